"""The row-partition inputs of RaggedTensor's factories: the splits dtype, partition
vectors as 1-D integer arrays, values of rank >= 1, and TF's validate=True checks.

Kept apart from the class (ragged_tensor.py) so that it stays one concept; the class
module re-exports these names, which the other ragged modules import from there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.sparse_tensor import traced


def splits_dtype(requested=None):
    """TF's row-splits dtype as JAX holds it: int32 stays int32, int64 (the default) is
    JAX's canonical int64 (int32 unless x64 is on)."""
    if requested is not None and np.dtype(getattr(requested, "as_numpy_dtype", requested)) \
            == np.int32:
        return np.dtype(np.int32)
    if requested is not None and np.dtype(getattr(requested, "as_numpy_dtype", requested)) \
            != np.int64:
        raise ValueError(f"row_splits_dtype must be int32 or int64; received {requested!r}")
    return np.dtype(jax.dtypes.canonicalize_dtype(jnp.int64))


def partition(value, name, op, dtype=None):
    """`value` (a row partition: splits, lengths, rowids, starts or limits) as a 1-D
    integer array; an int32 array stays int32 unless `dtype` says otherwise."""
    if traced(value):
        array = value
    else:
        host = np.asarray(value)
        if host.size == 0 and host.dtype.kind == "f":  # [] reads as float64
            host = host.astype(np.int64)
        if host.dtype.kind not in "iu":
            raise TypeError(f"xf.RaggedTensor.{op}: {name} must be integers (int32 or "
                            f"int64); received dtype {host.dtype}: {value!r:.80}")
        array = host
    if array.ndim != 1:
        raise ValueError(f"xf.RaggedTensor.{op}: {name} must be 1-D; received shape "
                         f"{tuple(array.shape)}")
    if not jnp.issubdtype(array.dtype, jnp.integer):
        raise TypeError(f"xf.RaggedTensor.{op}: {name} must be integers; received "
                        f"{array.dtype}")
    if dtype is None:
        dtype = np.int32 if array.dtype == np.int32 else splits_dtype()
    return jnp.asarray(array, dtype)


def flat_array(values, op):
    """`values` for a RaggedTensor: a RaggedTensor, a traced array, host text (kept as
    xlaflow's host string arrays) or a tensor, of rank >= 1."""
    from xlaflow.tensors import convert_to_tensor

    if is_ragged(values) or traced(values):
        out = values
    elif isinstance(values, np.ndarray) and values.dtype.kind in "USO":
        out = values  # host text already
    else:
        out = convert_to_tensor(values)  # text becomes a host string array
    if not is_ragged(out) and np.ndim(out) == 0:
        raise ValueError(f"xf.RaggedTensor.{op}: values must have rank >= 1; received a "
                         f"scalar {values!r:.60}")
    return out


def nvals(values):
    """The number of rows `values` holds (its static leading size)."""
    return values.nrows_static if is_ragged(values) else values.shape[0]


def need_known(op, what, *values):
    """TypeError when `values` are traced: the result's size depends on them."""
    if traced(*jax.tree_util.tree_leaves(values)):
        raise TypeError(
            f"xf.{op}: the result's size depends on {what}, which XLA needs when the "
            "function is traced; call it eagerly (outside xf.function) and pass the result "
            "in as an argument, or use the form that takes the size (e.g. "
            "to_tensor(shape=...))")


def _fail(op, message):
    raise ValueError(f"xf.RaggedTensor.{op}: arguments do not form a valid RaggedTensor: "
                     f"{message}")


def check_splits(op, name, splits, count):
    """TF's validate=True checks on known row_splits: start at 0, never decrease, end at the
    number of values."""
    if traced(splits):
        return
    host = np.asarray(splits)
    if host.shape[0] == 0:
        _fail(op, f"{name} must have at least one element (nrows + 1); received []")
    if host[0] != 0:
        _fail(op, f"{name}[0] must be 0; received {name} = {host.tolist()[:20]}")
    if np.any(np.diff(host) < 0):
        at = int(np.argmax(np.diff(host) < 0)) + 1
        _fail(op, f"{name} must not decrease; {name}[{at}] = {host[at]} < {name}[{at - 1}] "
                  f"= {host[at - 1]}")
    if host[-1] != count:
        _fail(op, f"{name}[-1] = {host[-1]} must equal the number of values, {count}")


def is_ragged(value):
    from xlaflow.ragged_tensor import RaggedTensor

    return isinstance(value, RaggedTensor)
