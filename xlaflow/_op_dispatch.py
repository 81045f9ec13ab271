"""The public ops (xf.*, xf.math.*, xf.nn.*, ...) on symbolic Keras tensors: each becomes a
layer node of the functional graph (Keras 2's TFOpLambda), at the cost of one type check.

Each op namespace ends with `expose(globals(), "math")`, which wraps its public functions.
On ordinary arrays a wrapper checks its arguments and calls the op; when a symbolic tensor
(keras.Input and what is computed from it) sits anywhere in them, it records the call in
the graph instead (layers/op_layer.py). Ops a graph cannot hold (stateful, random without
a fixed seed, host callbacks) refuse symbolic tensors by name, naming keras.layers.Lambda.
This module imports no layers: until a symbolic tensor exists, a wrapper checks nothing.
"""

from __future__ import annotations

import functools
import inspect
import types

import numpy as np


class Symbolic:
    """Base of the functional API's symbolic tensors (layers/symbolic.py): what a wrapper
    looks for. Creating one turns the checks on."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        global _SYMBOLIC, _SUSPECT
        _SYMBOLIC = _SYMBOLIC | {cls}
        _SUSPECT = _SYMBOLIC | _SUSPECT

    def __init__(self):
        global _watching
        _watching = True


_watching = False  # no symbolic tensor yet: nothing to look for
_NESTED = (list, tuple, dict)
# The argument types a wrapper looks into: by exact type, a set lookup (an isinstance
# check of a jax.Array costs several times more); Symbolic's subclasses add themselves.
_SYMBOLIC = frozenset()
_SUSPECT = frozenset(_NESTED)


def has_symbolic(values):
    """Whether a symbolic tensor is among `values` or inside their lists, tuples, dicts."""
    for value in values:
        kind = type(value)
        if kind in _SYMBOLIC:
            return True
        if kind in _NESTED and has_symbolic(value.values() if kind is dict else value):
            return True
    return False


# public name ("math.reduce_mean", "concat") -> the function underneath
_PUBLIC = {}
_WRAPPERS = {}  # id(function underneath) -> its one wrapper, whichever namespaces publish it


def op(fn, public_name):
    """`fn` that records itself in a functional graph when given symbolic tensors."""
    takes_name = _takes_name(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not takes_name and "name" in kwargs:  # TF's op label: names a layer, no more
            given = kwargs.pop("name")
            if given is not None and not isinstance(given, str):
                raise TypeError(f"tf.{public_name}: `name` must be a string or None; "
                                f"received {given!r} ({type(given).__name__})")
            if _watching and (has_symbolic(args) or has_symbolic(kwargs.values())):
                return _record(public_name, fn, args, kwargs, given)
        elif _watching:  # the loops inline: a call costs more than the check
            for value in args:
                if type(value) in _SUSPECT:
                    return _record_or_call(public_name, fn, args, kwargs)
            for value in kwargs.values():
                if type(value) in _SUSPECT:
                    return _record_or_call(public_name, fn, args, kwargs)
        try:  # _call's retry, inlined: this is every op's path, a call costs ~50 ns
            return fn(*args, **kwargs)
        except TypeError as error:  # free until raised: the call's cost is unchanged
            retry = _retry(public_name, fn, error, args, kwargs)
            if retry is None:
                raise
        return retry[0](*retry[1], **retry[2])  # outside `except`: its errors stand alone

    return _named(wrapper, public_name)


def dispatch_for(cls, table):
    """Ops given a `cls` (RaggedTensor) call table[the function underneath] instead, as
    TF's dispatch: found after the op refused it with a TypeError, so a plain call pays
    nothing."""
    global _COMPOSITE
    _DISPATCH.update(table)
    _COMPOSITE = _COMPOSITE | {cls}


_DISPATCH = {}
_COMPOSITE = frozenset()


def _composite_among(args, kwargs):
    """The first composite value (RaggedTensor) among the arguments or in a list of them."""
    for value in (*args, *kwargs.values()):
        items = value if type(value) in (list, tuple) else (value,)
        found = next((item for item in items if type(item) in _COMPOSITE), None)
        if found is not None:
            return found
    return None


def _dispatched(fn, args, kwargs):
    """The registered form of `fn` when a composite value is among args (or in a list)."""
    alt = _DISPATCH.get(fn)
    return alt if alt is not None and _composite_among(args, kwargs) is not None else None


def _refuse_composite(public_name, args, kwargs, error):
    """A clear TypeError when an op with no RaggedTensor form is given one (JAX's own
    error would only say it wants arrays)."""
    found = _composite_among(args, kwargs)
    if found is not None:
        raise TypeError(
            f"tf.{public_name} does not take a {type(found).__name__} here: apply it to "
            "the values with xf.ragged.map_flat_values(fn, rt) where it acts element by "
            "element, or convert first with rt.to_tensor() (padded)") from error


def _retry(public_name, fn, error, args, kwargs):
    """What to call after `fn` raised `error` (a TypeError), as (function, args, kwargs):
    the RaggedTensor form of the op, text's host form (tf.concat of strings) or `fn` with
    lists made tensors; None to re-raise, after raising the clear error for text where XLA
    would hold it."""
    if _COMPOSITE:
        alt = _dispatched(fn, args, kwargs)
        if alt is not None:
            return alt, args, kwargs
        _refuse_composite(public_name, args, kwargs, error)
    text_op = _host_text_op(public_name, args, kwargs)
    if text_op is not None:
        return text_op, args, kwargs
    converted = _lists_as_tensors(error, args, kwargs)
    # text in the arguments, or in the lists made tensors, is refused clearly here: the
    # retried call's error (JAX's) would not say what to do
    _refuse_text(public_name, (*args, *kwargs.values()) if converted is None else
                 (*converted[0], *converted[1].values()))
    return None if converted is None else (fn, converted[0], converted[1])


def _host_text_op(public_name, args, kwargs):
    """The NumPy form of a shape or indexing op (_host_text_ops) when text is among its
    arguments and no trace is running (a traced program cannot hold text), else None."""
    from xlaflow import _host_text_ops, _lifting
    text_op = _host_text_ops.OPS.get(public_name)
    values = (*args, *kwargs.values())
    if text_op is None or _lifting.current() is not None or \
            not _host_text_ops.holds_text(values):
        return None
    import jax
    leaves = jax.tree_util.tree_leaves(values)
    return None if any(isinstance(v, jax.core.Tracer) for v in leaves) else text_op


def _refuse_text(public_name, values):
    """A clear TypeError where an op failed on text (xf.constant("a") is a host value:
    NumPy strings, which XLA cannot hold)."""
    for value in values:
        items = value if type(value) in (list, tuple) else (value,)
        for item in items:
            if isinstance(item, np.ndarray) and item.dtype.kind in "US":
                raise TypeError(
                    f"tf.{public_name}: received strings {item!r:.60}; XLA has no string "
                    "tensors (tf.string): handle text in Python or NumPy, or look it up "
                    "into integer ids first (keras.layers.StringLookup, a vocabulary "
                    "dict)") from None


_JNP_REFUSES_LISTS = "requires ndarray or scalar arguments"


def _lists_as_tensors(error, args, kwargs):
    """The arguments with Python lists and tuples made tensors, where a jnp function refused
    them (TF converts them: `tf.math.add([1, 2], [3, 4])`), else None. A list holding
    symbolic tensors becomes a recorded xf.stack of them, as TF packs Keras tensors."""
    if _JNP_REFUSES_LISTS not in str(error) or not any(
            type(v) in (list, tuple) for v in (*args, *kwargs.values())):
        return None
    from xlaflow.tensors import constant  # TF's dtypes: [1, 2] int32, [1.5] float32

    def tensor(value):
        if type(value) not in (list, tuple):
            return value
        if not has_symbolic(value):
            return constant(value)
        import xlaflow  # its stack records a node of the graph

        return xlaflow.stack([tensor(v) for v in value])
    try:
        return [tensor(a) for a in args], {k: tensor(v) for k, v in kwargs.items()}
    except (TypeError, ValueError):  # ragged or not numbers: jnp's error says it
        return None


def _call(fn, args, kwargs, public_name=None):
    """`fn(*args, **kwargs)`, again with lists made tensors where jnp refused them."""
    try:
        return fn(*args, **kwargs)
    except TypeError as error:
        if public_name is None:
            converted = _lists_as_tensors(error, args, kwargs)
            if converted is None:
                raise
            retry = fn, *converted
        else:
            retry = _retry(public_name, fn, error, args, kwargs)
            if retry is None:
                raise
    return retry[0](*retry[1], **retry[2])


def _record(public_name, fn, args, kwargs, layer_name=None):
    """The call as a node of the functional graph; its lists holding symbolic tensors
    stacked first where the op refused them."""
    from xlaflow.layers import op_layer

    try:
        return op_layer.record(public_name, fn, args, kwargs, layer_name=layer_name)
    except TypeError as error:
        converted = _lists_as_tensors(error, args, kwargs)
        if converted is None:
            raise
    return op_layer.record(public_name, fn, *converted, layer_name=layer_name)


def _takes_name(fn):
    """Whether `fn` has a `name` parameter (or **kwargs); JAX's functions have none."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a ufunc object: no signature to read
        return False
    return any(p.name == "name" or p.kind is p.VAR_KEYWORD for p in parameters)


def _record_or_call(public_name, fn, args, kwargs):
    if has_symbolic(args) or has_symbolic(kwargs.values()):
        return _record(public_name, fn, args, kwargs)
    return _call(fn, args, kwargs, public_name)


def refusing(fn, public_name, why):
    """`fn` that raises a TypeError naming keras.layers.Lambda when given symbolic tensors."""
    refusal = (f"tf.{public_name} cannot be a step of a functional model: {why}. Call it "
               "inside keras.layers.Lambda(fn) (fn runs on the real arrays) or in your own "
               "Layer subclass's call")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _watching and (has_symbolic(args) or has_symbolic(kwargs.values())):
            raise TypeError(refusal)
        return fn(*args, **kwargs)

    wrapper = _named(wrapper, public_name)
    wrapper._xf_op, wrapper._xf_refusal = None, refusal
    return wrapper


def _named(wrapper, public_name):
    """Named as published, so that pickle and help() find the wrapper, not `fn`."""
    prefix, _, short = public_name.rpartition(".")
    wrapper.__name__ = wrapper.__qualname__ = short
    wrapper.__module__ = f"xlaflow.{prefix}" if prefix else "xlaflow"
    wrapper._xf_op = public_name
    origin = getattr(wrapper.__wrapped__, "__module__", None) or ""
    if wrapper.__doc__ and not origin.startswith("xlaflow"):
        # JAX's examples (`>>> jnp.arange(4)`) would now count as xlaflow's doctests, in a
        # namespace without their imports: shown as JAX's, they are not collected
        wrapper.__doc__ = (f"xlaflow's {public_name}: {origin}.{wrapper.__wrapped__.__name__}"
                           " underneath, whose documentation follows.\n\n"
                           + wrapper.__doc__.replace(">>>", "jax>>>"))
    return wrapper


def expose(namespace, prefix):
    """Wrap the public functions of the module whose globals are `namespace`, published as
    `prefix.name` (prefix "" for xf itself). _SKIP names stay as they are (not ops on
    tensors); _REFUSE says why a graph cannot hold the others it names. A function that
    two namespaces publish (xf.reduce_sum, xf.math.reduce_sum) keeps one wrapper."""
    if prefix and prefix not in NAMESPACES:
        raise ValueError(f"expose: prefix must be one of {NAMESPACES}; received {prefix!r}")
    skip, refuse = _SKIP.get(prefix, ()), _REFUSE.get(prefix, {})
    for name, value in list(namespace.items()):
        if name.startswith("_") or name in skip or not callable(value) or \
                isinstance(value, (type, types.ModuleType)):
            continue
        public = f"{prefix}.{name}" if prefix else name
        fn = value.__wrapped__ if hasattr(value, "_xf_op") else value
        wrapper = _WRAPPERS.get(id(fn))
        if wrapper is None:
            why = refuse.get(name, refuse.get("*"))
            wrapper = op(fn, public) if why is None else refusing(fn, public, why)
            _WRAPPERS[id(fn)] = wrapper
        _PUBLIC[public] = fn
        namespace[name] = wrapper


# the namespaces a saved op may name: a config names no other module to import
NAMESPACES = ("math", "linalg", "nn", "image", "random", "debugging", "keras.backend", "signal")

_TAKES_FUNCTIONS = ("it takes functions, which a saved model cannot hold, and a layer "
                    "called inside them would not be one of the model's")
_RANDOM = ("it draws from a random generator's state, which a functional graph does not "
           "hold (keras.layers.GaussianNoise, Dropout and the Random* layers do)")
_SKIP = {"": ("function", "custom_gradient", "recompute_grad", "grad", "value_and_grad",
              "device", "executing_eagerly", "as_dtype", "is_tensor"),
         "keras.backend": ("as_dtype",),
         "signal": ("inverse_stft_window_fn",)}  # makes a window function, takes no tensor
_REFUSE = {
    "": {**dict.fromkeys(("cond", "case", "switch_case", "while_loop", "map_fn",
                          "vectorized_map", "scan"), _TAKES_FUNCTIONS),
         **dict.fromkeys(("py_function", "numpy_function"),
                         "it runs Python on the host, which a saved model cannot hold"),
         "print": "it prints when it runs, a side effect and not a step of a model"},
    "nn": {"dropout": _RANDOM},
    "image": {"random_flip_left_right": _RANDOM, "random_flip_up_down": _RANDOM},
    "random": {"*": _RANDOM},
    "debugging": {"*": "it checks values as the model runs, a side effect and not a step "
                       "of a model"},
}


def resolve(public_name):
    """The function published as `public_name`, or None when no namespace publishes it."""
    prefix = public_name.rsplit(".", 1)[0] if "." in public_name else ""
    if public_name not in _PUBLIC and prefix in NAMESPACES:
        import importlib
        try:  # the namespace may not be imported yet (xf.math, xf.image load lazily)
            importlib.import_module("xlaflow." + prefix)
        except ImportError:
            return None
    return _PUBLIC.get(public_name)


def public_name(fn):
    """A name `fn` (the function underneath a wrapper) is published under, or None."""
    return next((name for name, found in _PUBLIC.items() if found is fn), None)


_PREFERRED = ("math", "linalg", "nn", "image")  # TF's canonical homes, as Keras names ops


def canonical_name(public_name, fn):
    """The name Keras would give the op: tf.reduce_mean is math.reduce_mean, tf.matmul
    linalg.matmul, tf.nn.tanh math.tanh; an op only one namespace has keeps its own."""
    short = public_name.rsplit(".", 1)[-1]
    for prefix in _PREFERRED:
        if resolve(f"{prefix}.{short}") is fn:
            return f"{prefix}.{short}"
    return public_name
