"""tf.debugging's assertions: checked at once on concrete values, and when the compiled
program runs on traced ones (through the run-time checks converted `assert`s use), raising
tf.errors.InvalidArgumentError as TF does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _runtime_checks
from xlaflow.errors import InvalidArgumentError


def _traced(*values):
    return any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(values))


def _check(ok, text, message, shown=()):
    """Raise InvalidArgumentError(`message`: `text`) unless every entry of `ok` is true:
    now when `ok` is concrete (with `shown` values summarized), else when the program
    runs."""
    prefix = f"{message}\n" if message else ""
    if not _traced(ok):
        if not bool(np.all(np.asarray(ok))):
            details = "".join(f"\n{label}: {np.asarray(v).ravel()[:5]}"
                              for label, v in shown)
            raise InvalidArgumentError(None, None, f"{prefix}{text}{details}")
        return
    _runtime_checks.check(jnp.all(ok), lambda: InvalidArgumentError(
        None, None, f"{prefix}{text}"))


def _binary(name, symbol, op):
    def assertion(x, y, message=None, summarize=None, name=None):
        x, y = jnp.asarray(x), jnp.asarray(y)
        try:
            jnp.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise ValueError(f"assert: x of shape {x.shape} and y of shape {y.shape} do not "
                             "broadcast") from None
        _check(op(x, y), f"Condition x {symbol} y did not hold element-wise.", message,
               [("x (first values)", x), ("y (first values)", y)])
    assertion.__name__ = assertion.__qualname__ = name
    assertion.__doc__ = f"Check `x {symbol} y` element-wise (broadcasting), as TF."
    return assertion


assert_equal = _binary("assert_equal", "==", jnp.equal)
assert_none_equal = _binary("assert_none_equal", "!=", jnp.not_equal)
assert_less = _binary("assert_less", "<", jnp.less)
assert_less_equal = _binary("assert_less_equal", "<=", jnp.less_equal)
assert_greater = _binary("assert_greater", ">", jnp.greater)
assert_greater_equal = _binary("assert_greater_equal", ">=", jnp.greater_equal)


def _unary(text, test):
    def assertion(x, message=None, summarize=None, name=None):
        x = jnp.asarray(x)
        _check(test(x), f"Condition x {text} did not hold element-wise.", message,
               [("x (first values)", x)])
    return assertion


assert_positive = _unary("> 0", lambda x: x > 0)
assert_negative = _unary("< 0", lambda x: x < 0)
assert_non_negative = _unary(">= 0", lambda x: x >= 0)
assert_non_positive = _unary("<= 0", lambda x: x <= 0)


def assert_near(x, y, rtol=None, atol=None, message=None, summarize=None, name=None):
    """Check |x - y| <= atol + rtol * |y| element-wise (both default to 10 * the dtype's
    epsilon, as TF)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    eps = float(jnp.finfo(x.dtype).eps) if jnp.issubdtype(x.dtype, jnp.inexact) else 0.0
    rtol = 10 * eps if rtol is None else rtol
    atol = 10 * eps if atol is None else atol
    _check(jnp.abs(x - y) <= atol + rtol * jnp.abs(y),
           f"x and y not equal to tolerance rtol = {rtol}, atol = {atol}", message,
           [("x (first values)", x), ("y (first values)", y)])


def assert_rank(x, rank, message=None, name=None):
    """Check the (static) rank of `x`: a ValueError at once, as TF for a known rank."""
    if jnp.ndim(x) != int(rank):
        raise ValueError(f"{message + ' ' if message else ''}Tensor must have rank {rank}. "
                         f"Received rank {jnp.ndim(x)}, shape {jnp.shape(x)}")


def assert_type(tensor, tf_type, message=None, name=None):
    """Check the dtype of `tensor`: a TypeError at once, as TF."""
    if jnp.dtype(jnp.result_type(tensor)) != jnp.dtype(tf_type):
        raise TypeError(f"{message + ' ' if message else ''}tensor must be of type "
                        f"{jnp.dtype(tf_type).name}, received {jnp.result_type(tensor)}")


def assert_all_finite(t, message, name=None):
    """Check that `t` holds no NaN or infinity; returns `t`."""
    t = jnp.asarray(t)
    _check(jnp.isfinite(t), "Tensor had NaN or Inf values.", message)
    return t


def check_numerics(tensor, message, name=None):
    """tf.debugging.check_numerics: `tensor`, checked to hold no NaN or infinity."""
    return assert_all_finite(tensor, message)


def Assert(condition, data, summarize=None, name=None):  # TF spells it so
    """Check a scalar boolean `condition`; the failure shows `data` when it is concrete."""
    shown = [(f"data[{i}]", d) for i, d in enumerate(data) if not _traced(d)]
    _check(condition, "assertion failed", None, shown)
