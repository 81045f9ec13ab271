"""xlaflow's own `(y_true, y_pred)` functions (metrics' and losses'), called eagerly, run as
one compiled program per shape and options.

Op by op, a new batch shape compiled every operation of such a function (a metric update
or a loss call in a notebook or an eager loop paid ~6 compiles a shape). The functions are
pure, so one jax.jit per function and options, shared by every metric or loss object, does
the same work. A user's function keeps Python's eager semantics (it may use NumPy on the
values), and a traced call (fit, xf.function) inlines the function as before."""

from __future__ import annotations

import functools

import jax

from xlaflow import backend_config

_COMPILED = {}  # (function, options, Keras' epsilon and floatx) -> the function compiled


def apply(fn, options, y_true, y_pred):
    """fn(y_true, y_pred, **options), compiled when eager, xlaflow's and cacheable."""
    if isinstance(y_true, jax.Array) and isinstance(y_pred, jax.Array) and \
            not isinstance(y_true, jax.core.Tracer) and \
            not isinstance(y_pred, jax.core.Tracer) and \
            getattr(fn, "__module__", "").startswith("xlaflow."):
        try:
            # the functions read Keras' epsilon and floatx when traced
            key = (fn, tuple(sorted(options.items())), backend_config.epsilon(),
                   backend_config.floatx())
            compiled = _COMPILED.get(key)
        except TypeError:  # an option that cannot be a cache key: op by op
            return fn(y_true, y_pred, **options)
        if compiled is None:
            compiled = _COMPILED[key] = jax.jit(functools.partial(fn, **options))
        return compiled(y_true, y_pred)
    return fn(y_true, y_pred, **options)
