"""Building an xf.function's compiled program for one argument pattern, and retracing it.

`Tracing` is the half of `Function` that runs at trace time: it turns the Python function
into a pure `(variable_values, *leaves) -> (new_values, outputs)` with the Variables lifted,
jits it into an `Entry`, traces again while a trace reaches Variables no guess foresaw, and
routes relaxed shapes (None sizes, reduce_retracing) through _polymorphic's dispatcher.
Kept apart from function.py so the call path there stays small; it is only a mixin of
`Function` and reads the attributes `Function.__init__` sets.
"""

from __future__ import annotations

import enum
import functools

import jax

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
from xlaflow._entry import Direct, Entry
from xlaflow._reachable import reachable_variables
from xlaflow._retracing import TraceLog, warn_per_shape
from xlaflow._signatures import DYNAMIC
from xlaflow.config import flags
from xlaflow.variables import Variable

UNDER_TRANSFORMATION = object()  # cache-key marker: called inside a user's transformation
_MAX_ROUNDS = 8


class Tracing:
    """Trace-time methods of `Function`: entries, the pure program, the retrace loop.

    Uses `Function`'s `_values(entry)` and `_dyn_args(entry, dyn)` (its call path's own).
    """

    def _get_traceable(self):
        if self._traceable is None:
            fn = self._python_function
            if self._autograph and flags.autograph:
                from xlaflow.autograph import api  # the converter is loaded on first trace
                fn = api.convert(fn)
            self._traceable = fn
        return self._traceable

    def _make_entry(self, key, template, treedef, variables, undonated=False):
        donated = None
        if self._donate_argnums:
            donated = _donation.mask(treedef, template, self._donate_argnums)
        entry = Entry(template, treedef, variables, donated)
        entry.undonated = undonated
        entry.raise_checks = isinstance(key, tuple) and bool(key) and \
            key[0] is UNDER_TRANSFORMATION
        donate = self._donated_args(entry)
        pure = self._pure(entry, eager_init=False)
        if variables or donate:
            entry.jitted = jax.jit(pure, donate_argnums=donate)
        else:
            entry.jitted = Direct(pure)
            entry.direct = entry.jitted.direct
        if self._relaxed_specs is not None and not entry.raise_checks:
            self._relax(entry, "signature")
        replaced = self._cache.get(key)
        self._cache[key] = entry
        if self._fast and donated is None:
            if type(key) is int:
                self._fast_entries[key] = entry
            elif self._static_pattern(key, template, treedef):
                # f(model, x, y): the fast path matches the static arguments by identity,
                # skipping the flatten and key (7 µs a call with a Keras model, of ~30)
                entry.pattern = tuple(template)
                n = len(template)
                if replaced is not None and self._fast_entries.get(n) is replaced:
                    # rebuilt for new Variables: the old entry's programs lack them
                    self._fast_entries[n] = entry
                else:
                    self._fast_entries.setdefault(n, entry)
        self._entry_made(entry, replaced)
        return entry

    def _static_pattern(self, key, template, treedef):
        """Whether calls with the same objects in place of `template`'s static leaves are
        this key without canonicalizing: positional leaves only, as many as are required."""
        n = len(template)
        return key[0] is not UNDER_TRANSFORMATION and \
            (self._positional is None or n <= self._required) and \
            any(t is DYNAMIC for t in template) and \
            all(t is DYNAMIC or _keyed_by_identity(t) for t in template) and \
            treedef == positional_treedef(n)

    def _donated_args(self, entry):
        """The compiled call's donate_argnums: Variable values, and donated leaves."""
        return ((0,) if self._donate_variables and not entry.undonated else ()) + (
            (1,) if entry.donated_leaves is not None else ())

    def _pure_program(self, *args, with_assigned=False, **kwargs):
        """For export: `(pure, variables, touched)` where `pure(values, leaves)` runs the
        traced program on the Variables' values and the flat argument leaves and returns
        the outputs only. Variables are discovered (and created) first, on `args`/`kwargs`.
        `with_assigned`: `(pure, variables, touched, assigned)`, `pure` returning
        `(new values of assigned, outputs)` (a restored function writes them back)."""
        key, template, treedef, dyn = self._split(args, kwargs)
        entry = self._cache.get(key) or self._entry_for(key, template, treedef, dyn)
        entry, _ = self._resolve(entry, key, dyn, lambda e, vals: jax.eval_shape(
            e.relaxed.plain if e.relaxed else e.jitted, vals, *self._dyn_args(e, dyn)))
        body = self._pure(entry, eager_init=False)

        def pure(values, leaves):
            result = body(values, *self._dyn_args(entry, tuple(leaves)))
            return result if with_assigned else result[1]

        if with_assigned:
            return pure, list(entry.variables), list(entry.touched or ()), \
                list(entry.assigned or ())
        return pure, list(entry.variables), list(entry.touched or ())

    def _relax(self, entry, mode):
        """Route `entry`'s calls through symbolic programs (see _polymorphic)."""
        _polymorphic.install(entry, mode, self._relaxed_specs, self._param_names,
                             self._donated_args(entry), self._per_shape)
        _cpp_dispatch.forget(self)  # a program its dispatcher served is routed anew

    def _per_shape(self, reason):
        if not self._warned_per_shape:
            self._warned_per_shape = True
            warn_per_shape(self._name, reason, self._relaxed_specs is not None)

    def _resolve(self, entry, key, dyn, run, pending=None):
        """Run `run(entry, values)`, tracing again while the trace reaches new Variables.

        `pending` is the internal signal a first attempt already raised, if any.
        """
        for _ in range(_MAX_ROUNDS):
            values = self._values(entry)
            try:
                if pending is not None:
                    signal, pending = pending, None
                    raise signal
                return entry, run(entry, values)
            except _lifting.Retrace as again:
                entry = self._rebuild(entry, key, again)
            except _polymorphic.Generalize:
                self._relax(entry, "retrace")
            except _lifting.NeedsEagerInit:
                pure = self._pure(entry, eager_init=True)
                try:
                    # TF's init_scope: an initial value computed from Variables takes their
                    # current values (closed over, so concrete under compile-time eval);
                    # the arguments stay abstract, and a value computed from them is refused
                    jax.eval_shape(lambda *args, pure=pure, values=values: pure(values, *args),
                                   *self._dyn_args(entry, dyn))
                except _lifting.Retrace as again:
                    entry = self._rebuild(entry, key, again)
            except Exception as exc:  # noqa: BLE001 - re-raised, library frames filtered
                raise _tracebacks.filter_frames(exc) from exc.__cause__
        raise RuntimeError(f"xf.function {self._name!r}: the set of Variables it touches "
                           f"kept changing over {_MAX_ROUNDS} traces")

    def _rebuild(self, entry, key, again):
        # What the function reaches now (Variables the trace created, such as optimizer
        # slots, included) leads, in the order a first guess would have had them: a model
        # restored with its slots (load_model) then compiles the same program as the
        # one it was saved from, and the persistent compilation cache has it.
        self._guess = reachable_variables(self._python_function)
        variables = list({id(v): v for v in [*self._guess, *entry.variables,
                                             *again.variables]}.values())
        known = {id(v) for v in self._guess + entry.variables}
        self._learned += [v for v in again.variables if id(v) not in known]
        rebuilt = self._make_entry(key, entry.template, entry.treedef, variables,
                                   undonated=entry.undonated or again.undonated)
        rebuilt.assigned = again.assigned
        rebuilt.unordered_prints = entry.unordered_prints or again.unordered_prints
        return rebuilt

    def _pure(self, entry, eager_init):
        fn = self._get_traceable()
        relax = self._relax_retraces and not eager_init

        def pure(values, *dyn_parts):
            dyn = _donation.merge(entry.donated_leaves, dyn_parts)
            if relax and entry.relaxed is None and entry.signatures and \
                    not entry.raise_checks:
                avals = TraceLog.avals(dyn)
                if avals not in entry.signatures and _shape_patterns.is_concrete(avals):
                    raise _polymorphic.Generalize()  # a new shape, which jax.jit would
                    # trace as it is: a dispatcher generalises it instead
            it = iter(dyn)
            leaves = [next(it) if x is DYNAMIC else _signatures.unwrap(x) for x in entry.template]
            args, kwargs = jax.tree_util.tree_unflatten(entry.treedef, leaves)
            ctx = _lifting.LiftContext(entry.variables, values, allow_create=self._creation_open,
                                       eager_init=eager_init, fn_name=self._name)
            ctx.raise_checks = entry.raise_checks
            ctx.top_trace = _runtime_checks.current_trace()
            ctx.inputs = dyn
            ctx.ordered_prints = not entry.unordered_prints
            try:
                with ctx:
                    if eager_init:
                        with jax.ensure_compile_time_eval():
                            out = fn(*args, **kwargs)
                    else:
                        out = fn(*args, **kwargs)
                    out = jax.tree_util.tree_map(_read_variable, out,
                                                 is_leaf=lambda x: isinstance(x, Variable))
            except (_lifting.Retrace, _lifting.NeedsEagerInit):
                raise
            except Exception as exc:  # noqa: BLE001 - re-raised, annotated with the function's name
                raise _tracebacks.annotate_trace_error(exc, self._name)
            self._creation_open = False
            if ctx.missing or eager_init:
                raise _lifting.Retrace([*entry.variables, *ctx.missing.values()])
            if ctx.printed_in_order and _spans_devices((out, list(ctx.values.values()))):
                # XLA refuses ordered effects in a program over several devices, which a
                # sharding constraint or device_put after a print can make
                raise _lifting.Retrace(entry.variables, entry.assigned, unordered_prints=True)
            # Donated Variable buffers are consumed by the call: every lifted Variable then
            # gets its value back (unchanged ones alias their input, at no cost).
            assigned = list(entry.variables) if self._donate_variables else list(
                ctx.assigned.values())
            if entry.assigned is None:
                entry.assigned = assigned
            elif not {id(v) for v in assigned} <= {id(v) for v in entry.assigned}:
                raise _lifting.Retrace(entry.variables, _union(entry.assigned, assigned))
            if (ctx.check_tokens or ctx.inline_checks) and self._donate_variables and \
                    not entry.undonated:
                # A failed run-time check raises instead of writing the new values back,
                # and donated old values would be gone with them (fit's model unusable
                # after a failing assert or py_function): such a program keeps them.
                raise _lifting.Retrace(entry.variables, entry.assigned, undonated=True)
            entry.touched = [v for v in entry.variables if id(v) in ctx.touched]
            entry.check_tokens.extend(ctx.check_tokens)
            self._traces.record(self._name, self._param_names, entry, dyn, out)
            # New values first: jax.jit aliases each donated input to the first output of
            # its shape and dtype, in order, so each Variable then reuses its own buffer.
            # Outputs first, a scalar result took a scalar Variable's buffer, and XLA
            # copied the displaced values (fit's MLP step: 12 copies instead of 4 in its
            # CPU program; on an H100, 5 copy kernels instead of 1, as hand-written).
            return (tuple(_in_its_layout(v, ctx.values[id(v)]) for v in entry.assigned),
                    _runtime_checks.with_checks(ctx, out))

        pure.__name__ = self._name  # names the XLA module jit_<function name>
        return pure


def _in_its_layout(variable, value):
    """A Variable's new `value` kept in the layout of its array on a device mesh. XLA would
    otherwise lay it out as it is computed (a replicated bias added to column-sharded
    activations comes back sharded), and the next call compiles the program again."""
    sharding = getattr(variable._value, "sharding", None)
    if isinstance(sharding, jax.sharding.NamedSharding):
        return jax.lax.with_sharding_constraint(value, sharding)
    return value


@functools.lru_cache(maxsize=16)
def positional_treedef(n):
    """The treedef of `(args, kwargs)` for n positional leaves and no keywords."""
    return jax.tree_util.tree_structure((tuple(range(n)), {}))


# Hashes that stay the same for an object's life: identity, an Enum member's name, and
# the immutable builtins'. A static object hashed on mutable state (a config whose
# __hash__ reads its fields) is a new cache key once mutated: its calls stay on the slow path.
_STABLE_HASHES = frozenset(t.__hash__ for t in (object, enum.Enum, int, bool, float,
                                                complex, str, bytes))


def _keyed_by_identity(leaf):
    """Whether the same object `leaf` is always the same cache key: its hash is stable."""
    return isinstance(leaf, Variable) or type(leaf).__hash__ in _STABLE_HASHES


def _spans_devices(tree):
    from xlaflow.ops import _one_device  # ops imports the core: loaded by now
    return not all(_one_device(x) for x in jax.tree_util.tree_leaves(tree))


def _read_variable(x):
    return x.value if isinstance(x, Variable) else x


def _union(a, b):
    return list({id(v): v for v in [*a, *b]}.values())
