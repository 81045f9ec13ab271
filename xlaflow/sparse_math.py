"""tf.sparse's arithmetic: add, sparse_dense_matmul, reduce_sum and reduce_max.

Results that are dense run inside xf.function and differentiate through the values (scatter
adds and gathers over the entries, never a densified operand); sparse results whose entries
depend on indices (sparse + sparse, output_is_sparse=True) need those indices known.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.sparse_ops import _columns, check_sparse, need_known, take_entries
from xlaflow.sparse_tensor import SparseTensor, device_indices, index_dtype, on_device, traced
from xlaflow.tensors import convert_to_tensor


def _dense_like(op, name, value, sp):
    """`value` as a tensor: a Python value takes sp's dtype (TF converts it so); a tensor
    of another dtype is a TypeError, as TF's kernels take one dtype."""
    if isinstance(value, SparseTensor):
        raise TypeError(f"xf.sparse.{op}: {name} must be dense here; received a SparseTensor")
    if traced(value):
        dense = value
    elif hasattr(value, "dtype"):
        dense = convert_to_tensor(value)
    else:
        dense = convert_to_tensor(value, dtype=sp.dtype)
    if dense.dtype != sp.dtype:
        raise TypeError(f"xf.sparse.{op}: {name} has dtype {dense.dtype} but the SparseTensor "
                        f"holds {sp.dtype}; cast one with xf.cast")
    return dense


# As in sparse_ops: each op's device work is one jitted program, not one per eager op.
@jax.jit
def _scatter_add(dense, indices, values):
    return dense.at[_columns(indices, indices.shape[1])].add(values)


@functools.partial(jax.jit, static_argnames="count")
def _merged_sums(a_values, b_values, slot, count):
    return jax.ops.segment_sum(jnp.concatenate([a_values, b_values]), slot,
                               num_segments=count)


def add(a, b, threshold=0, name=None):
    """tf.sparse.add: a SparseTensor plus a dense tensor (either order) is dense; two
    SparseTensors give the SparseTensor of their sums, in row-major order, dropping sums
    whose magnitude is below `threshold`. Sparse + sparse needs known indices."""
    if not isinstance(a, SparseTensor) and not isinstance(b, SparseTensor):
        raise TypeError("xf.sparse.add: a or b must be a SparseTensor; for two dense tensors "
                        "use xf.add")
    a, b = (on_device(x, "sparse.add") if isinstance(x, SparseTensor) else x for x in (a, b))
    if not isinstance(a, SparseTensor) or not isinstance(b, SparseTensor):
        sp, dense = (a, b) if isinstance(a, SparseTensor) else (b, a)
        dense = _dense_like("add", "the dense operand", dense, sp)
        if tuple(dense.shape) != tuple(sp.shape.as_list()):
            raise ValueError(f"xf.sparse.add: the dense operand's shape {dense.shape} differs "
                             f"from the SparseTensor's dense_shape {sp.shape}")
        if sp.ndim == 0:
            return dense + jnp.sum(sp.values)
        return _scatter_add(dense, sp.indices, sp.values)
    if a.shape.as_list() != b.shape.as_list():
        raise ValueError(f"xf.sparse.add: a and b must have one dense_shape; received "
                         f"{a.shape} and {b.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"xf.sparse.add: a and b must have one dtype; received {a.dtype} and "
                        f"{b.dtype}")
    need_known("add", "which indices a and b share", a.indices, b.indices)
    both = np.concatenate([np.asarray(a.indices, np.int64), np.asarray(b.indices, np.int64)])
    merged, slot = np.unique(both, axis=0, return_inverse=True)  # row-major, like TF's merge
    slot = slot.reshape(-1)
    values = _merged_sums(a.values, b.values, slot, merged.shape[0])
    out = SparseTensor._unchecked(device_indices(merged), values, a.shape.as_list())
    if not threshold:  # TF keeps |sum| >= 0: every entry, so values may be traced
        return out
    need_known("add", "the sums' magnitudes (threshold > 0)", values)
    keep = np.nonzero(np.abs(np.asarray(values)) >= threshold)[0]
    return SparseTensor._unchecked(*take_entries(out.indices, out.values, keep),
                                   a.shape.as_list())


def _matrix(op, name, value):
    if value.ndim != 2:
        raise ValueError(f"xf.sparse.{op}: {name} must have rank 2; received shape "
                         f"{tuple(value.shape)}")


def _adjoint(x, adjoint):
    return jnp.conj(x).T if adjoint else x


def sparse_dense_matmul(sp_a, b, adjoint_a=False, adjoint_b=False, name=None):
    """A @ B with one of them a rank-2 SparseTensor and the other dense (TF's
    sparse_dense_matmul); adjoint_* conjugate-transposes that operand first. Dense result."""
    op = "sparse_dense_matmul"
    if isinstance(sp_a, SparseTensor) == isinstance(b, SparseTensor):
        raise TypeError(f"xf.sparse.{op}: exactly one of sp_a and b must be a SparseTensor; "
                        f"received {type(sp_a).__name__} and {type(b).__name__}")
    sp_a, b = (on_device(x, f"sparse.{op}") if isinstance(x, SparseTensor) else x
               for x in (sp_a, b))
    if isinstance(sp_a, SparseTensor):
        _matrix(op, "sp_a", sp_a)
        dense = _dense_like(op, "b", b, sp_a)
        _matrix(op, "b", dense)
        m, k = sp_a.shape.as_list()[::-1] if adjoint_a else sp_a.shape.as_list()
        inner = dense.shape[1] if adjoint_b else dense.shape[0]
        if inner != k:
            raise ValueError(f"xf.sparse.{op}: inner dimensions differ: sp_a is [{m}, {k}] "
                             f"and b is {list(dense.shape[::-1] if adjoint_b else dense.shape)} "
                             "(after the adjoints)")
        return _sparse_dense(sp_a.indices, sp_a.values, dense, m, adjoint_a, adjoint_b)
    sp_b = b
    _matrix(op, "b", sp_b)
    dense = _dense_like(op, "sp_a", sp_a, sp_b)
    _matrix(op, "sp_a", dense)
    k, n = sp_b.shape.as_list()[::-1] if adjoint_b else sp_b.shape.as_list()
    inner = dense.shape[0] if adjoint_a else dense.shape[1]
    if inner != k:
        raise ValueError(f"xf.sparse.{op}: inner dimensions differ: sp_a is "
                         f"{list(dense.shape[::-1] if adjoint_a else dense.shape)} and b is [{k}, {n}] "
                         "(after the adjoints)")
    return _dense_sparse(dense, sp_b.indices, sp_b.values, n, adjoint_a, adjoint_b)


@functools.partial(jax.jit, static_argnames=("m", "adjoint_a", "adjoint_b"))
def _sparse_dense(indices, vals, dense, m, adjoint_a, adjoint_b):
    """op(A) @ op(B), A sparse with m rows after its adjoint: one program."""
    rows, cols = indices[:, 0], indices[:, 1]
    if adjoint_a:
        rows, cols, vals = cols, rows, jnp.conj(vals)
    dense = _adjoint(dense, adjoint_b)
    out = jnp.zeros((m, dense.shape[1]), dense.dtype)
    return out.at[rows].add(vals[:, None] * dense[cols])


@functools.partial(jax.jit, static_argnames=("n", "adjoint_a", "adjoint_b"))
def _dense_sparse(dense, indices, vals, n, adjoint_a, adjoint_b):
    """op(A) @ op(B), B sparse with n columns after its adjoint: one program."""
    rows, cols = indices[:, 0], indices[:, 1]
    if adjoint_b:
        rows, cols, vals = cols, rows, jnp.conj(vals)
    dense = _adjoint(dense, adjoint_a)
    out = jnp.zeros((dense.shape[0], n), dense.dtype)
    return out.at[:, cols].add(dense[:, rows] * vals[None, :])


def _reduction(op, sp, axis, keepdims):
    """(reduced axes, kept axes, the output's dense shape) of a tf.sparse reduction."""
    rank = sp.ndim
    raw = list(range(rank)) if axis is None else np.atleast_1d(np.asarray(axis)).tolist()
    if any(not isinstance(a, int) or not -rank <= a < rank for a in raw) or \
            len({a % rank for a in raw}) != len(raw):
        raise ValueError(f"xf.sparse.{op}: axis must be distinct ints in [{-rank}, {rank}); "
                         f"received {axis!r}")
    axes = sorted(a % rank for a in raw)
    shape = sp.shape.as_list()
    kept = [d for d in range(rank) if d not in axes]
    out_shape = [1 if d in axes else shape[d] for d in range(rank)] if keepdims \
        else [shape[d] for d in kept]
    return axes, kept, out_shape


def _lowest(dtype):
    if jnp.issubdtype(dtype, jnp.floating):
        return -jnp.inf
    if jnp.issubdtype(dtype, jnp.integer):
        return jnp.iinfo(dtype).min
    raise TypeError(f"xf.sparse.reduce_max: values must be real numbers; received {dtype}")


def _reduce(op, sp_input, axis, keepdims, output_is_sparse, kind):
    sp = check_sparse(op, "sp_input", sp_input)
    axes, kept, out_shape = _reduction(op, sp, axis, keepdims)
    if output_is_sparse:
        return _reduce_sparse(op, sp, axes, kept, out_shape, keepdims, kind)
    if kind == "max":
        _lowest(sp.dtype)  # a TypeError for values that are not real numbers
    return _reduced(sp.indices, sp.values, tuple(sp.shape.as_list()), tuple(kept),
                    tuple(out_shape), kind)


@functools.partial(jax.jit, static_argnames=("shape", "kept", "out_shape", "kind"))
def _reduced(indices, values, shape, kept, out_shape, kind):
    """The dense reduction of the entries to the kept dimensions: one program."""
    flat = jnp.zeros((indices.shape[0],), index_dtype())
    for d in kept:  # each entry's flat position among the kept dimensions' positions
        flat = flat * shape[d] + indices[:, d]
    count = math.prod(shape[d] for d in kept)
    if kind == "sum":
        out = jnp.zeros((count,), values.dtype).at[flat].add(values)
    else:
        # TF's kernel starts from zeros and writes the max of each group that has entries:
        # a position with no entries is 0, one with entries is their max (even if negative)
        best = jnp.full((count,), _lowest(values.dtype), values.dtype).at[flat].max(values)
        seen = jnp.zeros((count,), bool).at[flat].set(True)
        out = jnp.where(seen, best, jnp.zeros((), values.dtype))
    return out.reshape(out_shape)


def _reduce_sparse(op, sp, axes, kept, out_shape, keepdims, kind):
    need_known(op, "which positions sp_input's entries reduce to", sp.indices)
    host = np.asarray(sp.indices, np.int64)[:, kept]
    groups, slot = np.unique(host, axis=0, return_inverse=True)
    values = _segment_reduced(sp.values, slot.reshape(-1), groups.shape[0], kind)
    if keepdims:
        full = np.zeros((groups.shape[0], sp.ndim), np.int64)
        full[:, kept] = groups
        groups = full
    return SparseTensor._unchecked(device_indices(groups), values, out_shape)


@functools.partial(jax.jit, static_argnames=("count", "kind"))
def _segment_reduced(values, slot, count, kind):
    fn = jax.ops.segment_sum if kind == "sum" else jax.ops.segment_max
    return fn(values, slot, num_segments=count)


def reduce_sum(sp_input, axis=None, keepdims=None, output_is_sparse=False, name=None):
    """The sum of sp_input's entries over `axis` (all by default), as tf.sparse.reduce_sum:
    dense, or with output_is_sparse=True a SparseTensor of the positions that had entries."""
    return _reduce("reduce_sum", sp_input, axis, bool(keepdims), output_is_sparse, "sum")


def reduce_max(sp_input, axis=None, keepdims=None, output_is_sparse=False, name=None):
    """The max of sp_input's *entries* over `axis`: missing elements are not zeros (TF's
    tf.sparse.reduce_max of from_dense([-5, 0, -3]) is -3); 0 where no entry reduces."""
    return _reduce("reduce_max", sp_input, axis, bool(keepdims), output_is_sparse, "max")
