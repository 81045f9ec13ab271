"""tf.math's segment reductions: sum, mean, max, min, prod over the rows that share a segment
id, with TF's values for segments no row reaches.

Sorted forms (`segment_*`) take non-decreasing ids and give (largest id + 1) rows, so their
ids must be concrete; empty segments are 0 (prod: 1). Unsorted forms take `num_segments`,
drop rows with a negative id, refuse an id >= num_segments (at once when concrete, when
the program runs when traced), and fill an empty max with the dtype's lowest value and an
empty min with its highest, as TF's CPU kernels do.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _runtime_checks
from xlaflow.errors import InvalidArgumentError


def _ids(segment_ids, api):
    ids = jnp.asarray(segment_ids)
    if not jnp.issubdtype(ids.dtype, jnp.integer):
        raise TypeError(f"{api}: segment_ids must be integers (int32 or int64), received "
                        f"dtype {ids.dtype}")
    return ids


def _extreme(dtype, highest, api):
    """numeric_limits<T>::max() or ::lowest(): finite for floats, as TF fills them."""
    if not (jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)):
        raise TypeError(f"{api}: data must be numeric (integer or floating point), as TF's "
                        f"max/min kernels; received dtype {dtype}")
    info = jnp.finfo(dtype) if jnp.issubdtype(dtype, jnp.inexact) else jnp.iinfo(dtype)
    return info.max if highest else info.min


def _reduce(kind, data, ids, count, empty):
    """out[j] = `kind` of data[i] over ids[i] == j, j < count; `empty` fills segments no
    row reaches (None: the natural value, 0 for sums and means)."""
    ones = jnp.ones(ids.shape, jnp.int32)
    rows = jax.ops.segment_sum(ones, ids, num_segments=count)
    rows = rows.reshape(rows.shape + (1,) * (data.ndim - 1))
    if kind in ("sum", "mean", "sqrt_n"):
        out = jax.ops.segment_sum(data, ids, num_segments=count)
        if kind == "mean" and not jnp.issubdtype(data.dtype, jnp.inexact):
            return jax.lax.div(out, jnp.maximum(rows, 1).astype(out.dtype))  # C++'s int /
        if kind == "mean":
            return out / jnp.maximum(rows, 1).astype(out.dtype)
        if kind == "sqrt_n":
            return out / jnp.sqrt(jnp.maximum(rows, 1).astype(out.dtype))
        return out
    reduce = {"max": jax.ops.segment_max, "min": jax.ops.segment_min,
              "prod": _segment_prod}[kind]
    out = reduce(data, ids, num_segments=count)
    return out if empty is None else jnp.where(rows == 0, jnp.asarray(empty, out.dtype), out)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _segment_prod(data, ids, num_segments):
    """jax.ops.segment_prod with TF's derivative (JAX has no reverse rule for repeated ids;
    a linear JVP rule gives JAX both modes)."""
    return jax.ops.segment_prod(data, ids, num_segments=num_segments)


@_segment_prod.defjvp
def _segment_prod_jvp(num_segments, primals, tangents):
    """TF's _UnsortedSegmentProdGrad as a JVP: each row's derivative is the product of the
    other rows of its segment; a lone zero's is the product of the non-zeros, and every
    row of a segment with two zeros has 0."""
    data, ids = primals
    out = _segment_prod(data, ids, num_segments)
    zero = data == 0
    zeros = jax.ops.segment_sum(zero.astype(jnp.int32), ids, num_segments=num_segments)
    nonzero = jnp.where(zero, jnp.ones_like(data), data)
    nonzero_prod = jax.ops.segment_prod(nonzero, ids, num_segments=num_segments)

    def rows(values):  # values[ids]; a dropped row (id num_segments) reads 0
        return jnp.take(values, ids, axis=0, mode="fill", fill_value=0)
    partial = jnp.where(zero, rows(nonzero_prod), rows(out) / nonzero)
    partial = jnp.where(rows(zeros) > 1, jnp.zeros_like(partial), partial)
    return out, jax.ops.segment_sum(partial * tangents[0], ids, num_segments=num_segments)


def _sorted(kind, data, segment_ids, empty, api):
    data, ids = jnp.asarray(data), _ids(segment_ids, api)
    if isinstance(ids, jax.core.Tracer):
        raise TypeError(f"{api}: the output has (largest id + 1) rows, which traced "
                        f"segment_ids do not have yet; inside xf.function use "
                        f"unsorted_{api}(data, segment_ids, num_segments=<count>)")
    if ids.ndim != 1 or data.ndim == 0 or ids.shape[0] != data.shape[0]:
        raise ValueError(f"{api}: segment_ids must be 1-D with one id per row of data "
                         f"(shape ({data.shape[0] if data.ndim else '?'},)), received shape "
                         f"{ids.shape} for data of shape {data.shape}")
    host = np.asarray(ids)
    if host.size and host.min() < 0:
        raise InvalidArgumentError(None, None, f"{api}: segment ids must be >= 0, received "
                                               f"{int(host.min())}")
    if host.size and np.any(np.diff(host) < 0):
        raise InvalidArgumentError(None, None, f"{api}: segment ids are not increasing "
                                               f"(received {host.tolist()[:10]}): they must "
                                               f"be sorted; use unsorted_{api} for ids in "
                                               f"any order")
    count = int(host.max()) + 1 if host.size else 0
    return _reduce(kind, data, ids, count, empty)


def _unsorted(kind, data, segment_ids, num_segments, empty, api):
    data, ids = jnp.asarray(data), _ids(segment_ids, api)
    if isinstance(num_segments, jax.core.Tracer):
        raise TypeError(f"{api}: num_segments sets the output's size, so it must be known "
                        "when the function is traced (a Python int); received a tensor "
                        "computed in the function")
    given = np.asarray(num_segments)
    if given.dtype.kind not in "iu" or given.ndim:
        raise TypeError(f"{api}: num_segments must be an integer scalar (int32 or int64), "
                        f"as TF's; received {num_segments!r}")
    count = int(given)
    if count < 0:
        raise ValueError(f"{api}: num_segments must be >= 0, received {count}")
    if data.shape[:ids.ndim] != ids.shape:
        raise ValueError(f"{api}: segment_ids' shape {ids.shape} must be a prefix of data's "
                         f"shape {data.shape}")
    data = data.reshape((-1,) + data.shape[ids.ndim:])
    ids = ids.reshape(-1)
    message = f"{api}: segment_ids must be < num_segments = {count}"
    if isinstance(ids, jax.core.Tracer):
        _runtime_checks.check(jnp.all(ids < count), lambda values: InvalidArgumentError(
            None, None, f"{message}, received {int(values.max())}"), ids)
    elif ids.size and int(np.max(np.asarray(ids))) >= count:
        raise InvalidArgumentError(None, None,
                                   f"{message}, received {int(np.max(np.asarray(ids)))}")
    ids = jnp.where(ids < 0, count, ids)  # a negative id drops its row, as TF documents
    return _reduce(kind, data, ids, count, empty)


def _floating(data, api):
    if not jnp.issubdtype(jnp.asarray(data).dtype, jnp.inexact):
        raise TypeError(f"{api}: data must have a floating point or complex dtype, as TF's; "
                        f"received {jnp.asarray(data).dtype}")


def segment_sum(data, segment_ids, name=None):
    """Sums over runs of sorted `segment_ids` (largest id + 1 rows; empty segments 0)."""
    return _sorted("sum", data, segment_ids, None, "segment_sum")


def segment_mean(data, segment_ids, name=None):
    """Means over runs of sorted `segment_ids`; empty segments 0 (integer data: the
    quotient truncated, as TF's kernel)."""
    return _sorted("mean", data, segment_ids, None, "segment_mean")


def segment_max(data, segment_ids, name=None):
    """Maxima over runs of sorted `segment_ids`; empty segments 0, as TF."""
    return _sorted("max", data, segment_ids, 0, "segment_max")


def segment_min(data, segment_ids, name=None):
    """Minima over runs of sorted `segment_ids`; empty segments 0, as TF."""
    return _sorted("min", data, segment_ids, 0, "segment_min")


def segment_prod(data, segment_ids, name=None):
    """Products over runs of sorted `segment_ids`; empty segments 1."""
    return _sorted("prod", data, segment_ids, None, "segment_prod")


def unsorted_segment_sum(data, segment_ids, num_segments, name=None):
    """out[j] = sum of data[i] over i with segment_ids[i] == j, for j < num_segments."""
    return _unsorted("sum", data, segment_ids, num_segments, None, "unsorted_segment_sum")


def unsorted_segment_mean(data, segment_ids, num_segments, name=None):
    """out[j] = mean of data[i] over segment_ids[i] == j; 0 for an empty segment."""
    _floating(data, "unsorted_segment_mean")
    return _unsorted("mean", data, segment_ids, num_segments, None, "unsorted_segment_mean")


def unsorted_segment_sqrt_n(data, segment_ids, num_segments, name=None):
    """out[j] = sum of data[i] over segment_ids[i] == j, divided by the square root of
    their count; 0 for an empty segment."""
    _floating(data, "unsorted_segment_sqrt_n")
    return _unsorted("sqrt_n", data, segment_ids, num_segments, None,
                     "unsorted_segment_sqrt_n")


def unsorted_segment_max(data, segment_ids, num_segments, name=None):
    """out[j] = max of data[i] over segment_ids[i] == j; the dtype's lowest value (finite
    for floats) for an empty segment, as TF."""
    dtype = jnp.asarray(data).dtype
    api = "unsorted_segment_max"
    return _unsorted("max", data, segment_ids, num_segments, _extreme(dtype, False, api), api)


def unsorted_segment_min(data, segment_ids, num_segments, name=None):
    """out[j] = min of data[i] over segment_ids[i] == j; the dtype's highest value for an
    empty segment, as TF."""
    dtype = jnp.asarray(data).dtype
    api = "unsorted_segment_min"
    return _unsorted("min", data, segment_ids, num_segments, _extreme(dtype, True, api), api)


def unsorted_segment_prod(data, segment_ids, num_segments, name=None):
    """out[j] = product of data[i] over segment_ids[i] == j; 1 for an empty segment."""
    return _unsorted("prod", data, segment_ids, num_segments, None, "unsorted_segment_prod")
