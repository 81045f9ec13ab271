"""tf.sparse's conversions and structural ops (from_dense, to_dense, reorder, reshape, slice,
retain, expand_dims, transpose, concat, fill_empty_rows, to_indicator, map_values).

An op whose result's number of entries depends on indices or values (from_dense, slice,
retain, fill_empty_rows) needs them known: it runs eagerly and refuses traced ones with a
TypeError saying what to do; the others run inside xf.function as well.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import nest
from xlaflow.sparse_tensor import SparseTensor, device_indices, index_dtype, on_device, traced
from xlaflow.tensors import convert_to_tensor


def check_sparse(op, name, value):
    if not isinstance(value, SparseTensor):
        raise TypeError(f"xf.sparse.{op}: {name} must be a SparseTensor; received "
                        f"{type(value).__name__}")
    return on_device(value, f"sparse.{op}")


def need_known(op, what, *values):
    """TypeError when `values` are traced: op's result size depends on them."""
    if traced(*values):
        raise TypeError(
            f"xf.sparse.{op}: the result's number of entries depends on {what}, which XLA "
            "needs when the function is traced; call it eagerly (outside xf.function, e.g. "
            "while preparing data) and pass the resulting SparseTensor in as an argument, "
            "or use xf.sparse.to_dense and dense ops inside")


def _columns(indices, rank):
    return tuple(indices[:, d] for d in range(rank))


# Each op's device work is one jitted program (per entry count and dense shape): called
# eagerly, op by op, every slice, sort and scatter would be a program XLA compiles for each
# new number of entries. Inside xf.function they are inlined into the caller's trace.
def _sorted(indices, values):
    """Entries in row-major order (lexsort sorts by its last key first)."""
    if indices.shape[1] == 0 or indices.shape[0] < 2:
        return indices, values
    order = jnp.lexsort(tuple(indices[:, d] for d in reversed(range(indices.shape[1]))))
    return indices[order], values[order]


@functools.partial(jax.jit, static_argnames="perm")
def _permuted_sorted(indices, values, perm=None):
    return _sorted(indices if perm is None else indices[:, list(perm)], values)


@functools.partial(jax.jit, static_argnames="shape")
def _scattered(indices, values, fill, shape):
    out = jnp.full(shape, fill, values.dtype)
    return out.at[_columns(indices, len(shape))].set(values)


@jax.jit
def take_entries(indices, values, rows):
    """The entries at positions `rows` (one program for the indices and values)."""
    return indices[rows], values[rows]


def _axis(op, axis, rank, name="axis"):
    if not isinstance(axis, (int, np.integer)) or not -rank <= axis < rank:
        raise ValueError(f"xf.sparse.{op}: {name} must be an int in [{-rank}, {rank}); "
                         f"received {axis!r}")
    return int(axis) % rank


def from_dense(tensor, name=None):
    """The SparseTensor of `tensor`'s nonzero elements, in row-major order (tf.sparse.from_dense).
    Eager only: the number of entries depends on the values."""
    need_known("from_dense", "the tensor's values (its nonzeros)", tensor)
    dense = convert_to_tensor(tensor)
    if not hasattr(dense, "at"):  # host text: TF's "" is its zero, but XLA holds no strings
        raise NotImplementedError(f"xf.sparse.from_dense: the values must be numeric or bool "
                                  f"(XLA holds no strings); received {dense.dtype}")
    host = np.asarray(dense)
    where = np.argwhere(host != 0)
    return SparseTensor._unchecked(device_indices(where),
                                   jnp.asarray(host[tuple(where.T)], dense.dtype), host.shape)


def _check_canonical(op, indices, dense_shape):
    """TF's validate_indices: entries in row-major order, no repeats (eager indices only)."""
    host = np.asarray(indices, np.int64)
    if host.shape[0] < 2 or host.shape[1] == 0:
        return
    later = host[1:]
    earlier = host[:-1]
    diff = later - earlier
    first = np.argmax(diff != 0, axis=1)  # the first column where consecutive rows differ
    step = diff[np.arange(diff.shape[0]), first]
    bad = np.nonzero(step <= 0)[0]
    if bad.size:
        i = int(bad[0]) + 1
        kind = "repeats" if step[bad[0]] == 0 else "is out of row-major order after"
        raise ValueError(f"xf.sparse.{op}: indices[{i}] = {host[i].tolist()} {kind} "
                         f"indices[{i - 1}] = {host[i - 1].tolist()}; call xf.sparse.reorder "
                         "first (repeats must be merged), or pass validate_indices=False")


def _host_text(values):
    return isinstance(values, np.ndarray) and values.dtype.kind in "USO"


def _text_to_dense(sp, default_value, validate_indices):
    """A host SparseTensor of strings (parse_example's VarLenFeature, a Dataset element)
    densified in NumPy, TF's b"" where it has no entry: XLA holds no strings."""
    from xlaflow.data import structure
    from xlaflow.data.host_tensor import HostTensor

    indices = np.asarray(sp.indices, np.int64)
    if validate_indices:
        _check_canonical("to_dense", indices, list(sp._dense_shape))
    values = structure.bytes_array(sp.values) if sp.values.dtype.kind == "U" else \
        np.asarray(sp.values, dtype=object)
    fill = b"" if default_value is None else default_value
    if isinstance(fill, str):
        fill = fill.encode("utf-8")
    if not isinstance(fill, bytes):
        raise TypeError(f"xf.sparse.to_dense: default_value must be a string for string "
                        f"values; received {type(fill).__name__} {fill!r:.60}")
    out = np.empty(sp._dense_shape, dtype=object)
    out[...] = fill
    if values.size:
        out[tuple(indices.T)] = values  # later repeats win, as the device path's .set
    return out.view(HostTensor)


def to_dense(sp_input, default_value=None, validate_indices=True, name=None):
    """The dense tensor of sp_input, `default_value` (0) where it has no entry."""
    if isinstance(sp_input, SparseTensor) and _host_text(sp_input.values):
        return _text_to_dense(sp_input, default_value, validate_indices)
    sp = check_sparse("to_dense", "sp_input", sp_input)
    if validate_indices and not traced(sp.indices):
        _check_canonical("to_dense", sp.indices, sp.shape.as_list())
    fill = 0 if default_value is None else default_value
    if sp.ndim == 0:  # a scalar: its one entry (a full reduction's result), if any
        return sp.values[-1] if sp.values.shape[0] else jnp.full((), fill, sp.dtype)
    return _scattered(sp.indices, sp.values, fill, tuple(sp.shape.as_list()))


def reorder(sp_input, name=None):
    """sp_input with its entries in row-major (lexicographic) order (tf.sparse.reorder)."""
    sp = check_sparse("reorder", "sp_input", sp_input)
    if sp.ndim == 0 or sp.indices.shape[0] < 2:
        return sp
    return SparseTensor._unchecked(*_permuted_sorted(sp.indices, sp.values),
                                   sp.shape.as_list())


def _strides(shape):
    out, step = [], 1
    for dim in reversed(shape):
        out.append(step)
        step *= dim
    return out[::-1]


def reshape(sp_input, shape, name=None):
    """sp_input's entries at the same row-major positions of a dense tensor of `shape`
    (at most one -1, inferred), as tf.sparse.reshape."""
    sp = check_sparse("reshape", "sp_input", sp_input)
    old = sp.shape.as_list()
    total = math.prod(old)
    wanted = list(shape.as_list() if hasattr(shape, "as_list") else np.asarray(shape).tolist())
    if sum(d == -1 for d in wanted) > 1 or any(d < -1 for d in wanted):
        raise ValueError(f"xf.sparse.reshape: shape may hold one -1 and no other negative "
                         f"size; received {wanted}")
    if -1 in wanted:
        known = math.prod(d for d in wanted if d != -1)
        if known == 0 or total % known:
            raise ValueError(f"xf.sparse.reshape: cannot infer the -1 of shape {wanted} for "
                             f"{total} elements (dense_shape {old})")
        wanted[wanted.index(-1)] = total // known
    if math.prod(wanted) != total:
        raise ValueError(f"xf.sparse.reshape: shape {wanted} has {math.prod(wanted)} elements "
                         f"but sp_input's dense_shape {old} has {total}")
    if total >= np.iinfo(index_dtype()).max:
        raise ValueError(f"xf.sparse.reshape: {total} elements overflow {index_dtype()} "
                         "positions; enable jax_enable_x64")
    new = _reshaped_indices(sp.indices, tuple(old), tuple(wanted))
    return SparseTensor._unchecked(new, sp.values, wanted)


@functools.partial(jax.jit, static_argnames=("old", "wanted"))
def _reshaped_indices(indices, old, wanted):
    linear = sum(indices[:, d] * s for d, s in enumerate(_strides(old))) \
        if old else jnp.zeros((indices.shape[0],), index_dtype())
    new = jnp.stack([(linear // s) % d for s, d in zip(_strides(wanted), wanted)], axis=1) \
        if wanted else jnp.zeros((indices.shape[0], 0), index_dtype())
    return new.astype(index_dtype())


def expand_dims(sp_input, axis=None, name=None):
    """sp_input with a size-1 dimension inserted at `axis` (tf.sparse.expand_dims)."""
    sp = check_sparse("expand_dims", "sp_input", sp_input)
    axis = _axis("expand_dims", -1 if axis is None else axis, sp.ndim + 1)
    shape = sp.shape.as_list()
    return SparseTensor._unchecked(_expanded_indices(sp.indices, axis), sp.values,
                                   shape[:axis] + [1] + shape[axis:])


@functools.partial(jax.jit, static_argnames="axis")
def _expanded_indices(indices, axis):
    zeros = jnp.zeros((indices.shape[0], 1), index_dtype())
    return jnp.concatenate([indices[:, :axis], zeros, indices[:, axis:]], axis=1)


def transpose(sp_input, perm=None, name=None):
    """sp_input with its dimensions permuted by `perm` (reversed by default), reordered."""
    sp = check_sparse("transpose", "sp_input", sp_input)
    perm = list(range(sp.ndim))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(p % sp.ndim if sp.ndim else p for p in perm) != list(range(sp.ndim)):
        raise ValueError(f"xf.sparse.transpose: perm must be a permutation of "
                         f"{list(range(sp.ndim))}; received {perm}")
    perm = [p % sp.ndim for p in perm]
    shape = sp.shape.as_list()
    indices, values = _permuted_sorted(sp.indices, sp.values, tuple(perm)) if sp.ndim else \
        (sp.indices, sp.values)
    return SparseTensor._unchecked(indices, values, [shape[p] for p in perm])


def concat(axis, sp_inputs, expand_nonconcat_dims=False, name=None):
    """sp_inputs joined along `axis` (tf.sparse.concat), in row-major order. With
    expand_nonconcat_dims, the other dimensions grow to the largest input's."""
    sp_inputs = [check_sparse("concat", f"sp_inputs[{i}]", s) for i, s in enumerate(sp_inputs)]
    if not sp_inputs:
        raise ValueError("xf.sparse.concat: sp_inputs is empty; give one SparseTensor or more")
    rank = sp_inputs[0].ndim
    shapes = [s.shape.as_list() for s in sp_inputs]
    if any(len(s) != rank for s in shapes):
        raise ValueError(f"xf.sparse.concat: sp_inputs must have one rank; received dense "
                         f"shapes {shapes}")
    if len({s.dtype for s in sp_inputs}) > 1:
        raise TypeError(f"xf.sparse.concat: sp_inputs must have one dtype; received "
                        f"{[str(s.dtype) for s in sp_inputs]}")
    axis = _axis("concat", axis, rank)
    out_shape = list(shapes[0])
    for d in range(rank):
        sizes = [s[d] for s in shapes]
        if d == axis:
            out_shape[d] = sum(sizes)
        elif expand_nonconcat_dims:
            out_shape[d] = max(sizes)
        elif len(set(sizes)) > 1:
            raise ValueError(f"xf.sparse.concat: dimension {d} differs between sp_inputs "
                             f"(dense shapes {shapes}) and is not the concat axis {axis}; "
                             "pass expand_nonconcat_dims=True to grow it")
    offsets = tuple(int(o) for o in np.cumsum([0] + [s[axis] for s in shapes[:-1]]))
    indices, values = _joined([s.indices for s in sp_inputs], [s.values for s in sp_inputs],
                              axis, offsets)
    return SparseTensor._unchecked(indices, values, out_shape)


@functools.partial(jax.jit, static_argnames=("axis", "offsets"))
def _joined(indices, values, axis, offsets):
    """The inputs' entries shifted along `axis`, joined and in row-major order."""
    parts = [part.at[:, axis].add(offset) for part, offset in zip(indices, offsets)]
    return _sorted(jnp.concatenate(parts), jnp.concatenate(values))


def _static_ints(op, name, value, rank):
    values = np.asarray(value.as_list() if hasattr(value, "as_list") else value)
    if values.shape != (rank,) or (values.size and values.dtype.kind not in "iu"):
        raise ValueError(f"xf.sparse.{op}: {name} must be {rank} integers (one per dimension "
                         f"of sp_input); received {value!r}")
    return values.astype(np.int64)


def slice(sp_input, start, size, name=None):
    """The entries of sp_input inside [start, start + size), clipped to its dense shape,
    shifted to start at 0 (tf.sparse.slice). Eager indices only."""
    sp = check_sparse("slice", "sp_input", sp_input)
    start = _static_ints("slice", "start", start, sp.ndim)
    size = _static_ints("slice", "size", size, sp.ndim)
    if (start < 0).any() or (size < 0).any():
        raise ValueError(f"xf.sparse.slice: start and size must be non-negative; received "
                         f"start={start.tolist()}, size={size.tolist()}")
    need_known("slice", "sp_input's indices", sp.indices)
    dense = np.asarray(sp.shape.as_list(), np.int64)
    out_shape = np.maximum(0, np.minimum(size, dense - start))
    host = np.asarray(sp.indices, np.int64)
    keep = np.nonzero(((host >= start) & (host < start + out_shape)).all(axis=1))[0]
    return SparseTensor._unchecked(device_indices(host[keep] - start),
                                   take_entries(sp.indices, sp.values, keep)[1],
                                   out_shape.tolist())


def retain(sp_input, to_retain):
    """The entries of sp_input where the bool vector `to_retain` is true (tf.sparse.retain).
    to_retain must be known (values may be traced)."""
    sp = check_sparse("retain", "sp_input", sp_input)
    need_known("retain", "to_retain", to_retain)
    keep = np.asarray(to_retain)
    if keep.dtype != np.bool_ or keep.shape != (sp.indices.shape[0],):
        raise ValueError(f"xf.sparse.retain: to_retain must be a bool vector of length "
                         f"{sp.indices.shape[0]} (one per entry); received {keep.dtype} "
                         f"shape {keep.shape}")
    rows = np.nonzero(keep)[0]
    return SparseTensor._unchecked(*take_entries(sp.indices, sp.values, rows),
                                   sp.shape.as_list())


def fill_empty_rows(sp_input, default_value, name=None):
    """sp_input with an entry (row, 0, ...) = default_value in each row it has none, and the
    bool vector of those rows (tf.sparse.fill_empty_rows). Eager indices only."""
    sp = check_sparse("fill_empty_rows", "sp_input", sp_input)
    if sp.ndim < 1:
        raise ValueError("xf.sparse.fill_empty_rows: sp_input must have rank 1 or more")
    need_known("fill_empty_rows", "which rows of sp_input are empty", sp.indices)
    host = np.asarray(sp.indices, np.int64)
    rows = sp.shape.as_list()[0]
    empty = np.ones(rows, bool)
    empty[host[:, 0]] = False
    added = np.zeros((int(empty.sum()), sp.ndim), np.int64)
    added[:, 0] = np.nonzero(empty)[0]
    all_indices = np.concatenate([host, added])
    order = np.argsort(all_indices[:, 0], kind="stable")  # rows ascending, entries kept in order
    fill = jnp.full((added.shape[0],), default_value, sp.dtype)
    values = jnp.concatenate([sp.values, fill])[order]
    out = SparseTensor._unchecked(device_indices(all_indices[order]), values,
                                  sp.shape.as_list())
    return out, jnp.asarray(empty)


def to_indicator(sp_input, vocab_size, name=None):
    """A dense bool tensor, dense_shape[:-1] + [vocab_size], true at (indices[:-1], value)
    for each entry of the integer sp_input (tf.sparse.to_indicator)."""
    sp = check_sparse("to_indicator", "sp_input", sp_input)
    if sp.ndim < 1 or not jnp.issubdtype(sp.dtype, jnp.integer):
        raise ValueError(f"xf.sparse.to_indicator: sp_input must hold integer ids in rank 1 "
                         f"or more; received dtype {sp.dtype}, dense_shape {sp.shape}")
    vocab_size = int(vocab_size)
    if not traced(sp.values):
        ids = np.asarray(sp.values)
        if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
            raise ValueError(f"xf.sparse.to_indicator: values must be ids in [0, "
                             f"{vocab_size}) (vocab_size); received values from {ids.min()} "
                             f"to {ids.max()}")
    shape = tuple(sp.shape.as_list()[:-1]) + (vocab_size,)
    return _indicator(sp.indices, sp.values, shape)


@functools.partial(jax.jit, static_argnames="shape")
def _indicator(indices, ids, shape):
    where = _columns(indices, len(shape) - 1) + (ids,)
    return jnp.zeros(shape, bool).at[where].set(True)


def _same_indices(a, b):
    if a.shape.as_list() != b.shape.as_list() or a.indices.shape != b.indices.shape:
        return False
    if a.indices is b.indices:
        return True
    if traced(a.indices, b.indices):
        return None  # unknown until run time
    return bool(np.array_equal(np.asarray(a.indices), np.asarray(b.indices)))


def map_values(op, *args, **kwargs):
    """op applied to the values of the SparseTensors in args/kwargs, which must share indices
    and dense shape; the result keeps them (tf.sparse.map_values)."""
    found = [x for x in nest.flatten([args, kwargs]) if isinstance(x, SparseTensor)]
    if not found:
        raise ValueError("xf.sparse.map_values: no SparseTensor in args or kwargs")
    for other in found[1:]:
        same = _same_indices(found[0], other)
        if same is None:
            raise ValueError(
                "xf.sparse.map_values: the SparseTensors' indices are traced and distinct "
                "tensors, so they cannot be checked equal inside xf.function; build the "
                "others with first.with_values(...) (which shares its indices)")
        if not same:
            raise ValueError(f"xf.sparse.map_values: the SparseTensors must have the same "
                             f"indices and dense_shape; received dense shapes "
                             f"{found[0].shape} and {other.shape} with different indices")
    swap = lambda x: x.values if isinstance(x, SparseTensor) else x
    values = op(*nest.map_structure(swap, list(args)), **nest.map_structure(swap, kwargs))
    return found[0].with_values(values)
