"""range() and xf.range() with traced bounds, and `x in range(...)` by arithmetic.

A traced bound makes a TensorRange that a `for` loop runs as one lax loop; the counter's
integer type is chosen here so the loop matches Python's (and TF's) counting.
"""

from __future__ import annotations

import builtins

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _index_bounds, _runtime_checks, ops
from xlaflow.autograph.operators.dispatch import is_traced, user_line
from xlaflow.autograph.operators.iterables import TensorRange


def _any_traced(values):
    return any(is_traced(v) for v in values)


def range_(*args):
    """range(); a traced bound gives a TensorRange that a `for` loop runs as a lax loop."""
    return _range_of(args, "range()")


def _range_of(args, what):
    if not _any_traced(args):
        return builtins.range(*args)
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
    if not is_traced(step) and step == 0:
        raise ValueError("range() arg 3 must not be zero")
    dtype = _counter_dtype(start, stop, step)
    # Python bounds stay weakly typed ints where that is the counter's type (the loop is
    # then exactly a hand-written fori_loop); otherwise lax needs them typed like the rest.
    plain = dtype == default_int()
    start, stop = (v if plain and not is_traced(v) else jnp.asarray(v, dtype)
                   for v in (start, stop))
    step = jnp.asarray(step, dtype) if is_traced(step) else step
    return TensorRange(start, stop, step, what=what, where=user_line())


def xf_range_(start, limit=None, delta=1, dtype=None, name=None):
    """xf.range (TF's tf.range) in converted code. With a traced bound its length is known
    only at run time: what range() gives then, so that `for i in xf.range(n)` is one lax
    loop as in TF, its items of the bounds' type (or `dtype`); float bounds count as TF's
    and NumPy's do (see _float_range). Otherwise the tensor."""
    bounds = (0, start, delta) if limit is None else (start, limit, delta)
    if not _any_traced(bounds):
        return _known_values(ops.range(start, limit, delta, dtype=dtype, name=name), bounds)
    want = jnp.dtype(ops.as_dtype(dtype)) if dtype is not None else jnp.result_type(*bounds)
    floats = builtins.any(isinstance(b, float) or is_traced(b) and jnp.issubdtype(
        b.dtype, jnp.floating) for b in bounds)
    if floats and jnp.issubdtype(want, jnp.floating):
        return _float_range(bounds, want)
    if floats or builtins.any(is_traced(b) and not jnp.issubdtype(b.dtype, jnp.integer)
                              for b in bounds):
        return ops.range(start, limit, delta, dtype=dtype, name=name)  # JAX's error
    rng = _range_of(bounds, "xf.range()")
    if want != jnp.result_type(rng.start, rng.stop, rng.step):
        rng.item = lambda value: value.astype(want)
    rng.cast_only = True  # its items are its values: `in` tests them by arithmetic
    return rng


def _known_values(values, bounds):
    """`values` (xf.range with Python bounds), noted as lying between its first and last
    value when traced: a loop over it then indexes in range (see _index_bounds)."""
    if not is_traced(values) or not jnp.issubdtype(values.dtype, jnp.integer) or not all(
            isinstance(b, (int, np.integer)) and not isinstance(b, bool) for b in bounds):
        return values
    counted = builtins.range(*(int(b) for b in bounds))
    info = jnp.iinfo(values.dtype)
    if counted and info.min <= min(counted) and max(counted) <= info.max:
        _index_bounds.note_progression(values, counted.start, counted.step)
    return values


def _float_range(bounds, dtype):
    """xf.range with a traced bound and float items: ceil((limit - start) / delta) values
    start + k * delta (as TF and np.arange count them), a loop over the counter k."""
    where = user_line()
    start, limit, delta = (jnp.asarray(b, dtype) for b in bounds)
    if not is_traced(bounds[2]) and bounds[2] == 0:
        raise ValueError(f"{where}: xf.range() arg delta must not be zero")
    count = jnp.ceil((limit - start) / delta)
    counter = default_int()
    cap = 2.0 ** (jnp.iinfo(counter).bits - 1)  # the first count the counter cannot hold,
    # exact in every float type (its maximum itself rounds up in float32)
    if is_traced(delta):  # Python raises for a zero step; a traced one is checked at run time
        _runtime_checks.check(delta != 0, lambda: ValueError(
            f"{where}: xf.range() arg delta must not be zero"))
    # an infinite or huge bound would loop (nearly) forever: TF refuses it, so does this
    _runtime_checks.check(jnp.logical_not(count >= cap), lambda: ValueError(
        f"{where}: xf.range() has more values than a {counter.name} counter holds: "
        f"(limit - start) / delta must be finite and below {cap:.0f}"))
    # no values for an empty or NaN count, nor for one the check above refuses
    trips = jnp.where((count > 0) & (count < cap), count, 0).astype(counter)

    def item(k):
        return start + k.astype(dtype) * delta

    return TensorRange(jnp.zeros((), counter), trips, 1, item, "xf.range()", where)


def default_int():
    """The type of a Python int as JAX makes it: int64 in 64-bit mode, else int32."""
    return jnp.dtype(jnp.int64 if jax.config.jax_enable_x64 else jnp.int32)


def _counter_dtype(start, stop, step):
    """One signed integer type for every bound (lax loops need it; the loop variable is a
    Python int, so `i - 1 < 0` must hold at 0): at least 32 bits, 64 in 64-bit mode when an
    unsigned tensor or a Python bound needs it."""
    traced = [v for v in (start, stop, step) if is_traced(v)]
    dtype = jnp.result_type(*traced)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"range() takes integers; received a tensor of dtype {dtype}")
    x64 = jax.config.jax_enable_x64
    python = [int(v) for v in (start, stop, step) if not is_traced(v)]
    wide = x64 and (builtins.any(not -2 ** 31 <= v < 2 ** 31 for v in python) or (
        jnp.issubdtype(dtype, jnp.unsignedinteger) and jnp.dtype(dtype).itemsize >= 4))
    if jnp.issubdtype(dtype, jnp.unsignedinteger):
        return jnp.dtype(jnp.int64 if wide or jnp.dtype(dtype).itemsize == 8 and x64
                         else jnp.int32)
    return jnp.promote_types(dtype, jnp.int64 if wide else jnp.int32)


def in_range(item, rng):
    """`x in range(...)` by arithmetic, as Python does: no comparison per element.
    `item` is a number or a scalar tensor (anything else is in no range)."""
    start, stop, step = (rng.start, rng.stop, rng.step)
    item = jnp.asarray(item)
    fits = True
    if jnp.issubdtype(item.dtype, jnp.integer):  # compare as Python ints would, not wrapped
        signed = default_int()
        if jnp.issubdtype(item.dtype, jnp.unsignedinteger):
            fits = item <= jnp.asarray(jnp.iinfo(signed).max).astype(item.dtype)
        item = item.astype(signed)
    offset = item - start
    inside = jnp.where(step > 0, (item >= start) & (item < stop),
                       (item <= start) & (item > stop))
    whole = jnp.asarray(item) == jnp.floor(item) if jnp.issubdtype(
        jnp.result_type(item), jnp.inexact) else True
    return inside & whole & (offset % step == 0) & fits
