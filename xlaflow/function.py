"""xf.function: trace a Python function with its Variables lifted to inputs, compile with jax.jit.

Each distinct static part of the arguments (Python values, structure, Variables passed in)
gets one `jax.jit` of a pure function `(variable_values, traced_leaves) -> (new_variable_values,
outputs)`; JAX's own dispatch then handles shapes and dtypes in C++, so a cache
hit costs one dict lookup plus reading and writing the Variables' cells. Relaxed shapes
(None in an input_signature, reduce_retracing) go through _polymorphic's dispatcher.
This module is the call path and the cache; _tracing builds and retraces the programs.
"""

from __future__ import annotations

import functools
import types
import weakref

import jax
import numpy as np

from xlaflow import (
    _cpp_dispatch,
    _donation,
    _lifting,
    _polymorphic,
    _runtime_checks,
    _shape_patterns,
    _signatures,
    _tracebacks,
)
from xlaflow._reachable import reachable_variables
from xlaflow._retracing import TraceLog
from xlaflow._runtime_checks import Checked as _Checked
from xlaflow._signatures import DYNAMIC, Static
from xlaflow._tracing import UNDER_TRANSFORMATION, Tracing, positional_treedef
from xlaflow.concrete import ConcreteFunction
from xlaflow.config import flags
from xlaflow.data.host_tensor import HostTensor

_TRACED = _signatures.TRACED_TYPES
_Tracer = jax.core.Tracer  # a user's jax.jit around a call with concrete arguments
_FAST_PATH_OPEN = _lifting.fast_path_open  # read inline: a call to a function costs 0.1 µs
# What a call catches from a trace: new Variables reached, one created, or (with
# reduce_retracing) a new shape to generalise
_SIGNALS = (_lifting.Retrace, _lifting.NeedsEagerInit, _polymorphic.Generalize)


class Function(Tracing):
    """A Python function compiled by XLA on each new argument signature (TF's tf.function).

    Create it with `@xf.function` or `xf.function(fn, ...)`; see `function` for options.
    """

    def __init__(self, python_function, *, input_signature=None, autograph=True,
                 jit_compile=True, reduce_retracing=False, static_argnames=None,
                 donate_argnums=(), donate_variables=False):
        functools.update_wrapper(self, python_function, updated=())
        self._python_function = python_function
        self._options = dict(input_signature=input_signature, autograph=autograph,
                             jit_compile=jit_compile, reduce_retracing=reduce_retracing,
                             static_argnames=static_argnames, donate_argnums=donate_argnums,
                             donate_variables=donate_variables)
        self._donate_variables = bool(donate_variables)
        self._name = getattr(python_function, "__name__", type(python_function).__name__)
        self._input_signature = _signatures.normalize_input_signature(input_signature)
        self._autograph = autograph
        self._jit_compile = jit_compile is not False
        self._reduce_retracing = reduce_retracing
        # None sizes in the input_signature: one symbolic trace serves every size (as TF);
        # reduce_retracing without one: a retrace for new sizes makes them symbolic
        self._relaxed_specs = _shape_patterns.signature_leaves(self._input_signature)
        self._relax_retraces = bool(reduce_retracing) and self._input_signature is None
        self._warned_per_shape = False
        self._param_names, _ = _signatures.parameter_names(python_function)
        static_argnames = (static_argnames,) if isinstance(static_argnames, str) else \
            tuple(static_argnames or ())
        self._static_names = frozenset(static_argnames)
        self._static_positions = frozenset(
            i for i, n in enumerate(self._param_names) if n in self._static_names)
        self._donate_argnums = tuple(sorted({donate_argnums} if isinstance(donate_argnums, int)
                                            else set(donate_argnums)))
        self._cache = {}
        # The entries the fast path may take: all-array positional calls (keyed by their
        # count) of a compiled function without donated arguments (see _make_entry)
        self._fast_entries = {}
        self._bound = {}
        self._traceable = None
        self._traces = TraceLog()
        self._creation_open = True
        self._guess = None  # Variables the function itself reaches (not its arguments)
        self._learned = []  # Variables traces reached that no guess foresaw
        self._plain = self._input_signature is None and not self._static_names
        self._fast = self._plain and self._jit_compile  # __call__'s fast path may apply
        # f(x), f(x=x), f(x, 2.0) and f(x, y=2.0) for `def f(x, y=2.0)` are one call: the
        # positional parameters, to bring keyword and default arguments to one form
        self._positional = _signatures.positional_parameters(python_function)
        self._required = sum(1 for p in self._positional or ()
                             if p.default is p.empty)
        self._positional_only = frozenset(p.name for p in self._positional or ()
                                          if p.kind is p.POSITIONAL_ONLY)

    # -- public surface ------------------------------------------------------------------
    @property
    def python_function(self):
        """The original Python function."""
        return self._python_function

    @property
    def tracing_count(self):
        """How many times this function has been traced (one per compiled signature)."""
        return self._traces.count

    def experimental_get_tracing_count(self):
        """TF's name for `tracing_count`."""
        return self._traces.count

    def get_concrete_function(self, *args, **kwargs):
        """Trace for these arguments and return the program: `.jaxpr`, `.as_text()`, ...
        As in TF, a TensorSpec (or jax.ShapeDtypeStruct) stands for a tensor of its shape,
        None sizes included, and no arguments mean the input_signature."""
        if not args and not kwargs and self._input_signature is not None:
            args = tuple(self._input_signature)
        given = (args, kwargs)
        static = {jax.tree_util.SequenceKey(i) for i in self._static_positions} | {
            jax.tree_util.DictKey(n) for n in self._static_names}
        args, kwargs = _signatures.specs_as_shapes(self._name, self._param_names, static,
                                                   args, kwargs)
        key, template, treedef, dyn = self._split(args, kwargs)
        entry = self._cache.get(key) or self._entry_for(key, template, treedef, dyn)
        entry, traced = self._resolve(
            entry, key, dyn, lambda e, vals: e.jitted.trace(vals, *self._dyn_args(e, dyn)))
        return ConcreteFunction(self, entry, traced, given)

    def pretty_printed_concrete_signatures(self):
        """TF's text of every traced signature: arguments, tensor specs and outputs."""
        from xlaflow._pretty_signatures import pretty_printed
        return pretty_printed(self)

    def lower(self, *args, **kwargs):
        """The `jax.stages.Lowered` program for these arguments (as `jax.jit(f).lower`)."""
        return self.get_concrete_function(*args, **kwargs).lowered

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        slot = self._bound.get(id(instance))
        if slot is not None and slot[0]() is instance:
            return slot[1]
        bound = Function(types.MethodType(self._python_function, instance), **self._options)
        key = id(instance)
        try:
            ref = weakref.ref(instance, lambda _, k=key, d=self._bound: d.pop(k, None))
        except TypeError:  # not weak-referenceable: keep it alive with its compiled code
            ref = (lambda obj: lambda: obj)(instance)
        self._bound[key] = (ref, bound)
        return bound

    def __repr__(self):
        return f"<xf.function {self._name} traces={self._traces.count}>"

    # -- calling -------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        # The fast path (positional jax/NumPy arrays, a cached signature, compiled mode, no
        # trace under way) does as little Python as it can: JAX's C++ dispatch checks shapes
        # and dtypes, the key is just the argument count. It is most of a small call's cost.
        entry = self._fast_entries.get(len(args))
        if entry is not None and _FAST_PATH_OPEN[0] and not kwargs:
            dyn = args
            if entry.pattern is None:
                for arg in args:  # (a HostTensor is a Dataset element)
                    if type(arg) is not _array_type and (
                            type(arg) is not np.ndarray and type(arg) is not HostTensor
                            or arg.dtype.kind in _HOST_CHECKED and _unfit_host_array(arg)):
                        dyn = None  # the slow path names the problem
                        break
            else:  # f(model, x, y): the same objects where the entry has static leaves
                dyn = _matching_arrays(entry.pattern, args)
            if dyn is not None:
                try:
                    if entry.direct is not None:
                        out = entry.direct(*dyn)
                        if entry.check_tokens or type(out) is _Checked:
                            return self._finish(entry, out, ())
                        return out
                    values = [v._value for v in entry.variables]
                    if self._donate_variables:
                        values = _donation.distinct_buffers(values)
                    new, out = entry.jitted(values, dyn)
                except _SIGNALS:
                    pass  # a trace for new shapes reached new Variables, or is to be
                    # generalised (reduce_retracing): the slow path resolves it
                except Exception as exc:  # noqa: BLE001 -- re-raised, library frames filtered
                    raise _tracebacks.filter_frames(exc) from exc.__cause__
                else:
                    if entry.check_tokens or type(out) is _Checked or \
                            new and isinstance(new[0], _Tracer):
                        return self._finish(entry, out, new)  # (the latter raises)
                    for var, value in zip(entry.assigned, new):  # _finish's write-back
                        var._value = value
                    return out
        if flags.run_functions_eagerly or not self._jit_compile or \
                _lifting.current() is not None:
            # Eagerly, converted code keeps Python semantics (its values are concrete) and
            # still hands `with tape:` blocks to their tape. Called while another
            # xf.function traces, it inlines into that trace, whose context already lifts
            # every Variable this function touches.
            return self._get_traceable()(*args, **kwargs)
        try:
            return self._call_compiled(args, kwargs)
        except Exception as exc:  # noqa: BLE001 -- re-raised, library frames filtered
            raise _tracebacks.filter_frames(exc) from exc.__cause__

    def _dispatch_miss(self, args, kwargs):
        """A call the C++ dispatcher had not cached (see _cpp_dispatch): run it, and hand
        back the program's fast-path data where the fast path above would call it as is."""
        entry = self._fast_entries.get(len(args))
        if entry is not None and entry.pattern is None and not kwargs and \
                not entry.check_tokens and not entry.checked_outputs and \
                _FAST_PATH_OPEN[0] and _cpp_dispatch.is_jit_program(entry.direct) and \
                all(type(arg) is _array_type for arg in args):
            try:
                answer = entry.direct._cache_miss(*args)
            except _SIGNALS:
                pass  # the Python path resolves it (see __call__)
            except Exception as exc:  # noqa: BLE001 -- re-raised, library frames filtered
                raise _tracebacks.filter_frames(exc) from exc.__cause__
            else:
                out = answer[0]
                if not entry.check_tokens and type(out) is not _Checked:
                    return answer
                # This call's trace added run-time checks: their verdicts are read on every
                # call, so the entry stays on the Python path from now on.
                entry.checked_outputs = True
                return _cpp_dispatch.no_fast_path(self._finish(entry, out, ()))
        return _cpp_dispatch.no_fast_path(Function.__call__(self, *args, **kwargs))

    def _entry_made(self, entry, replaced):
        """After _make_entry: a dispatcher forgets an entry it may have served; the first
        fast entry with a plain jax.jit program gets the function one."""
        if "_dispatch" in self.__dict__:
            if replaced is not None:
                _cpp_dispatch.forget(self)
        elif type(self) is Function and self._fast_entries.get(len(entry.template)) is entry \
                and entry.pattern is None and _cpp_dispatch.is_jit_program(entry.direct):
            _cpp_dispatch.dispatch(self, DispatchedFunction)

    def _call_compiled(self, args, kwargs):
        key, template, treedef, dyn = self._split(args, kwargs)
        if any(type(x) is jax.ShapeDtypeStruct for x in dyn):
            _signatures.refuse_abstract(self._name, self._param_names, treedef, template, dyn)
        if any(isinstance(x, jax.core.Tracer) for x in dyn):
            # Inside the caller's jax.jit/vmap/grad: this call's results are only seen
            # there, so its run-time checks must raise in the program, not be recorded.
            key = (UNDER_TRANSFORMATION, key)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._entry_for(key, template, treedef, dyn)
        values = self._values(entry)
        try:
            if entry.donated_leaves is None:
                new, out = entry.jitted(values, dyn)
            else:
                new, out = entry.jitted(values, *self._dyn_args(entry, dyn))
        except _SIGNALS as pending:
            entry, (new, out) = self._resolve(
                entry, key, dyn, lambda e, vals: e.jitted(vals, *self._dyn_args(e, dyn)),
                pending)
        return self._finish(entry, out, new)

    def _finish(self, entry, out, new):
        """After a compiled call: wait for run-time checks, write assigned Variables back."""
        if entry.check_tokens:
            jax.block_until_ready((out, new))
        if entry.check_tokens or type(out) is _Checked:
            # the top-level checks' verdicts are outputs, the others recorded by callbacks
            _runtime_checks.raise_failed(entry.check_tokens, out)
            if type(out) is _Checked:
                out = out.out
        if new:
            if isinstance(new[0], jax.core.Tracer):
                raise TypeError(
                    f"xf.function {self._name!r} assigns Variable {entry.assigned[0].name!r} "
                    "but was called inside a plain JAX transformation (jax.jit/grad/vmap), "
                    "where the assignment cannot persist. Call it from an xf.function "
                    "instead.")
            for var, value in zip(entry.assigned, new):
                var._value = value
        return out

    def _values(self, entry):
        """The lifted Variables' current values, as the compiled call takes them."""
        values = [v._value for v in entry.variables]
        return _donation.distinct_buffers(values) if self._donate_variables else values

    @staticmethod
    def _dyn_args(entry, dyn):
        return _donation.split(entry.donated_leaves, dyn)

    def _split(self, args, kwargs):
        """Cache key, leaf template, treedef and traced leaves for one call's arguments."""
        if self._input_signature is not None:
            args, kwargs = _signatures.apply_input_signature(
                self._name, self._input_signature, self._param_names, args, kwargs,
                self._positional_only)
        elif self._positional is not None and (kwargs or len(args) > self._required):
            args, kwargs = _signatures.canonical_call(
                self._positional, args, kwargs, strip_defaults=not self._reduce_retracing)
        if self._static_names:
            args = tuple(Static(a) if i in self._static_positions else a
                         for i, a in enumerate(args))
            kwargs = {k: Static(v) if k in self._static_names else v for k, v in kwargs.items()}
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs),
                                                     is_leaf=_signatures.is_leaf)
        template, parts, dyn = [], [], []
        kinds = _TRACED + _signatures.PY_SCALARS if self._reduce_retracing else _TRACED
        for leaf in leaves:
            if isinstance(leaf, kinds):
                if isinstance(leaf, _HOST_ARRAYS) and leaf.dtype.kind in _HOST_CHECKED:
                    _signatures.check_host_array(self._name, self._param_names, treedef,
                                                 leaves, leaf)
                if type(leaf) is int and not _INT32_MIN <= leaf <= _INT32_MAX and \
                        not jax.config.jax_enable_x64:
                    _signatures.raise_int_overflow(self._name, self._param_names, treedef, leaves, leaf)
                dyn.append(leaf)
                template.append(DYNAMIC)
                parts.append(DYNAMIC)
            else:
                template.append(leaf)
                parts.append(_signatures.static_key_part(leaf))
        if len(dyn) == len(args) and not kwargs and treedef == positional_treedef(len(args)):
            return len(args), template, treedef, tuple(dyn)  # the fast path's key
        key = (treedef, tuple(parts))
        try:
            hash(key)
        except TypeError:
            _signatures.raise_unhashable(self._name, self._param_names, treedef, template)
        return key, template, treedef, tuple(dyn)

    # -- cache misses --------------------------------------------------------------------
    def _entry_for(self, key, template, treedef, dyn):
        global _array_type
        if _array_type is None:
            _array_type = type(jax.numpy.zeros(()))
        # This signature's guess: what the function reaches (closure, globals, self), what
        # its static arguments own, and what earlier traces found that neither showed.
        if self._guess is None:
            self._guess = reachable_variables(self._python_function)
        arguments = reachable_variables(None, [x for x in template if x is not DYNAMIC])
        variables = {id(v): v for v in [*self._guess, *arguments, *self._learned]}
        return self._make_entry(key, template, treedef, list(variables.values()))


class DispatchedFunction(Function):
    """A Function whose repeated all-array calls jaxlib's C++ dispatcher serves without a
    Python frame (see _cpp_dispatch); a Function becomes one on its first such entry."""


_cpp_dispatch.install(DispatchedFunction, Function)

_array_type = None  # jax's concrete array class, learned on the first trace
_HOST_ARRAYS = (np.ndarray, np.generic)
_HOST_CHECKED = _signatures.HOST_CHECKED_KINDS
_unfit_host_array = _signatures.unfit_host_array
_INT32_MIN, _INT32_MAX = -2 ** 31, 2 ** 31 - 1


def _matching_arrays(pattern, args):
    """The array arguments, when `args` has arrays where `pattern` is DYNAMIC and the very
    objects it holds elsewhere (what the cache key would match: keys compare static leaves
    by identity first); else None."""
    dyn = []
    for arg, want in zip(args, pattern):
        if want is DYNAMIC:
            if type(arg) is not _array_type and (
                    type(arg) is not np.ndarray and type(arg) is not HostTensor
                    or arg.dtype.kind in _HOST_CHECKED and _unfit_host_array(arg)):
                return None
            dyn.append(arg)
        elif arg is not want:
            return None
    return tuple(dyn)


def function(func=None, *, input_signature=None, autograph=True, jit_compile=True,
             reduce_retracing=False, static_argnames=None, donate_argnums=(),
             donate_variables=False):
    """Compile a Python function with XLA, lifting the Variables it touches (TF's tf.function).

    Tensors are traced by shape and dtype; Python values, strings and other objects are
    static, so a new value traces again. Variables reached by closure, globals, `self` or
    arguments become inputs of the compiled program and their assignments persist.

    Args:
      input_signature: sequence of `xf.TensorSpec` fixing the accepted arguments. As in
        TF, None sizes are traced once, as symbolic sizes: the Python function runs once
        and XLA compiles the one program per concrete shape (sizes equal at the first
        call share a symbol; a call where they differ traces once more, untied; a size 0
        gets a trace of its own). Code that cannot run on a symbolic size (a Python loop
        or `if` on it, `int(x.shape[0])`) or that calls back into Python while it runs
        (`xf.print`, converted asserts) is traced per shape instead, with one
        `xf.RelaxedShapeWarning` naming the argument and axis.
        An `xf.RaggedTensorSpec` takes a RaggedTensor, checked for dtype, ragged_rank,
        row_splits dtype and known sizes (a mismatch names the argument); since XLA's
        shapes are static it is traced per concrete number of rows and values.
      autograph: convert Python control flow on tensors (see `xf.autograph`).
      jit_compile: False runs the function eagerly, op by op (xlaflow has no non-XLA graph
        executor).
      reduce_retracing: trace Python numbers as tensors instead of static values, and (as
        TF) when a new shape retraces, generalise the sizes that differ from an earlier
        trace of the same rank and dtype to symbolic ones, so that trace serves them all.
      static_argnames: arguments always treated as static, even arrays (must be hashable).
      donate_argnums: positional arguments whose buffers XLA may reuse for outputs.
      donate_variables: let XLA update the lifted Variables in place (a training step then
        allocates no new weight buffers); arrays read earlier from those Variables
        (`v.value`) become invalid after the call.

    >>> from xlaflow.variables import Variable
    >>> v = Variable(0.0)
    >>> @function
    ... def bump(x):
    ...     v.assign_add(x)
    ...     return v.value * 2
    >>> float(bump(1.5)), float(v.value)
    (3.0, 1.5)
    """
    options = dict(input_signature=input_signature, autograph=autograph,
                   jit_compile=jit_compile, reduce_retracing=reduce_retracing,
                   static_argnames=static_argnames, donate_argnums=donate_argnums,
                   donate_variables=donate_variables)
    if func is None:
        return lambda f: Function(f, **options)
    return Function(func, **options)
