"""tf.debugging's assertions: checked at once on concrete values, and when the compiled
program runs on traced ones (through the run-time checks converted `assert`s use), raising
tf.errors.InvalidArgumentError as TF does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _op_dispatch, _runtime_checks
from xlaflow.errors import InvalidArgumentError


def _traced(*values):
    return any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(values))


def _summarize(summarize):
    """TF's `summarize`: entries shown per tensor, 3 by default, every one when negative."""
    if summarize is None:
        return 3
    if isinstance(summarize, bool) or not isinstance(summarize, (int, np.integer)):
        raise TypeError(f"summarize must be an int (entries shown per tensor), received "
                        f"{summarize!r}")
    return int(summarize)


def _entries(value, summarize):
    """The first `summarize` entries of `value` as text, "..." ending a cut-off list."""
    flat = np.asarray(value).ravel()
    shown = [str(v) for v in (flat if summarize < 0 else flat[:summarize])]
    return shown + ["..."] if len(shown) < flat.size else shown


def _check(ok, message, describe, *operands):
    """Raise InvalidArgumentError(`message` + `describe(*operands)`) unless every entry of
    `ok` is true: now when everything is concrete, else when the program runs (the
    operands then reach `describe` as their run-time values)."""
    prefix = [message] if message else []

    def error(*values):
        return InvalidArgumentError(None, None, "\n".join(prefix + describe(*values)))

    if not _traced(ok, operands):
        if not bool(np.all(np.asarray(ok))):
            raise error(*(np.asarray(v) for v in operands))
        return
    _runtime_checks.check(jnp.all(ok), error, *operands)


def _binary(name, symbol, op, np_op):
    def assertion(x, y, message=None, summarize=None, name=None):
        x, y = jnp.asarray(x), jnp.asarray(y)
        summarize = _summarize(summarize)
        try:
            jnp.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise ValueError(f"assert: x of shape {x.shape} and y of shape {y.shape} do not "
                             "broadcast") from None

        def describe(x, y):  # TF's eager text: the failing entries, then the first ones
            lines = [f"Condition x {symbol} y did not hold."]
            if summarize == 0:
                return lines
            count = x.size if summarize < 0 else summarize
            if x.shape == y.shape and x.ndim:
                failing = ~np_op(x, y)
                where = np.argwhere(failing)[:count]
                lines += [f"Indices of first {len(where)} different values:", str(where),
                          "Corresponding x values:", str(x[failing][:count]),
                          "Corresponding y values:", str(y[failing][:count])]
            for label, v in (("x", x), ("y", y)):
                first = v.ravel()[:v.size if summarize < 0 else summarize]
                lines += [f"First {first.size} elements of {label}:", str(first)]
            return lines

        _check(op(x, y), message, describe, x, y)
    assertion.__name__ = assertion.__qualname__ = name
    assertion.__doc__ = (f"Check `x {symbol} y` element-wise (broadcasting), as TF; a failure "
                         "shows the first `summarize` (default 3) failing and leading entries.")
    return assertion


assert_equal = _binary("assert_equal", "==", jnp.equal, np.equal)
assert_none_equal = _binary("assert_none_equal", "!=", jnp.not_equal, np.not_equal)
assert_less = _binary("assert_less", "<", jnp.less, np.less)
assert_less_equal = _binary("assert_less_equal", "<=", jnp.less_equal, np.less_equal)
assert_greater = _binary("assert_greater", ">", jnp.greater, np.greater)
assert_greater_equal = _binary("assert_greater_equal", ">=", jnp.greater_equal,
                               np.greater_equal)


def _shown(label, x, summarize):
    return [f"{label} (shape={x.shape} dtype={x.dtype}) = ", str(_entries(x, summarize))]


def _unary(text, test):
    def assertion(x, message=None, summarize=None, name=None):
        x, summarize = jnp.asarray(x), _summarize(summarize)
        _check(test(x), message, lambda v: [
            f"Condition x {text} did not hold element-wise:", *_shown("x", v, summarize)], x)
    return assertion


assert_positive = _unary("> 0", lambda x: x > 0)
assert_negative = _unary("< 0", lambda x: x < 0)
assert_non_negative = _unary(">= 0", lambda x: x >= 0)
assert_non_positive = _unary("<= 0", lambda x: x <= 0)


def assert_near(x, y, rtol=None, atol=None, message=None, summarize=None, name=None):
    """Check |x - y| <= atol + rtol * |y| element-wise (both default to 10 * the dtype's
    epsilon, as TF); a failure shows the first `summarize` entries of each."""
    x, y, summarize = jnp.asarray(x), jnp.asarray(y), _summarize(summarize)
    eps = float(jnp.finfo(x.dtype).eps) if jnp.issubdtype(x.dtype, jnp.inexact) else 0.0
    rtol = 10 * eps if rtol is None else rtol
    atol = 10 * eps if atol is None else atol
    _check(jnp.abs(x - y) <= atol + rtol * jnp.abs(y), message, lambda xv, yv: [
        f"x and y not equal to tolerance rtol = {rtol}, atol = {atol}",
        *_shown("x", xv, summarize), *_shown("y", yv, summarize)], x, y)


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
    _check(jnp.isfinite(t), message, lambda: ["Tensor had NaN or Inf values."])
    return t


def check_numerics(tensor, message, name=None):
    """tf.debugging.check_numerics: `tensor`, checked to hold no NaN or infinity."""
    return assert_all_finite(tensor, message)


def Assert(condition, data, summarize=None, name=None):  # TF spells it so
    """Check a scalar boolean `condition`; a failure shows the first `summarize` (default
    3) entries of each item of `data`, its run-time values inside a compiled program."""
    summarize = _summarize(summarize)
    arrays = [i for i, d in enumerate(data) if not isinstance(d, (str, bytes))]

    def describe(*values):
        shown = dict(zip(arrays, values))
        return ["assertion failed: Summarized data:"] + [
            ", ".join(_entries(shown[i], summarize)) if i in shown else
            (d.decode() if isinstance(d, bytes) else d) for i, d in enumerate(data)]

    _check(condition, None, describe, *(jnp.asarray(data[i]) for i in arrays))


# Last, once every function exists: the public ones accept symbolic Keras tensors
_op_dispatch.expose(globals(), "debugging")
