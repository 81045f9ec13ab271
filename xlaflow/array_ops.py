"""TF's array-manipulation ops whose names or arguments differ from jax.numpy's: linspace,
gather/gather_nd, tile, split/unstack, pad, reverse, sort/argsort, sequence_mask, where.

Thin wrappers with TF's argument spellings (and TF's checks where jnp would silently do
something else), so ported code keeps its calls unchanged.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import errors
from xlaflow.ops import _tensor
from xlaflow.tensors import as_dtype, int32


def where(condition, x=None, y=None, name=None):
    """TF's tf.where: `x` where `condition` holds, else `y`; with neither, the coordinates of
    the true elements, (num_true, rank) (jnp.where's one-argument form is a tuple)."""
    if (x is None) != (y is None):
        raise ValueError("xf.where: give both x and y (a selection), or neither (the "
                         f"coordinates of the true elements); received x={x!r}, y={y!r}")
    if x is not None:
        return jnp.where(condition, x, y)
    if isinstance(condition, jax.core.Tracer):
        raise NotImplementedError(
            "xf.where(condition) inside xf.function or a JAX transformation: the number of "
            "true elements is only known at run time, and XLA's shapes are fixed when "
            "tracing. Select with xf.where(condition, x, y), or use jnp.argwhere(condition, "
            "size=N, fill_value=-1) for at most N coordinates")
    return jnp.argwhere(jnp.asarray(condition))


def linspace(start, stop, num, name=None, axis=0):
    """`num` evenly spaced values from `start` to `stop`, both included (floats)."""
    return jnp.linspace(_tensor(start), _tensor(stop), int(num), axis=axis)


def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    """Slices of `params` along `axis` (default: `batch_dims`) at `indices`; the first
    `batch_dims` axes of both are batch axes, gathered pairwise (TF's gather)."""
    params, indices = jnp.asarray(params), jnp.asarray(indices)
    batch_dims = batch_dims + indices.ndim if batch_dims < 0 else batch_dims
    axis = batch_dims if axis is None else axis
    axis = axis + params.ndim if axis < 0 else axis
    if not 0 <= batch_dims <= min(axis, indices.ndim):
        raise ValueError(f"gather: `batch_dims` must be in [0, min(axis, rank(indices))] = "
                         f"[0, {min(axis, indices.ndim)}], received batch_dims={batch_dims}")
    if not isinstance(indices, jax.core.Tracer):
        _check_in_range(indices, params.shape[axis])
    if batch_dims == 0:
        return jnp.take(params, indices, axis=axis)
    if params.shape[:batch_dims] != indices.shape[:batch_dims]:
        raise ValueError(f"gather: with batch_dims={batch_dims}, params and indices share "
                         f"their first {batch_dims} dimensions; received params of shape "
                         f"{params.shape} and indices of shape {indices.shape}")
    inner = lambda p, i: gather(p, i, axis=axis - 1, batch_dims=batch_dims - 1)
    return jax.vmap(inner)(params, indices)


def _check_in_range(indices, size):
    """TF's eager check (as on its CPU): an index outside [0, size) is an error, where the
    gather itself would return a fill value. A traced index is not checked (XLA fills, as
    TF's GPU kernel does)."""
    values = np.asarray(indices)
    bad = np.argwhere((values < 0) | (values >= size))
    if bad.size:
        where = ",".join(str(int(i)) for i in bad[0])
        raise errors.InvalidArgumentError(
            None, None, f"indices[{where}] = {values[tuple(bad[0])]} is not in [0, {size}) "
                        f"[Op:GatherV2]")


def gather_nd(params, indices, batch_dims=0, name=None):
    """`params[tuple(index)]` for each index vector on the last axis of `indices`."""
    params, indices = jnp.asarray(params), jnp.asarray(indices)
    if batch_dims:
        return jax.vmap(lambda p, i: gather_nd(p, i, batch_dims - 1))(params, indices)
    depth = indices.shape[-1]
    if depth > params.ndim:
        raise ValueError(f"gather_nd: index vectors have {depth} entries but params has "
                         f"rank {params.ndim}")
    return params[tuple(indices[..., k] for k in range(depth))]


def tile(input, multiples, name=None):
    """Repeat `input` multiples[i] times along axis i (one multiple per axis, as TF)."""
    input = jnp.asarray(input)
    multiples = tuple(int(m) for m in np.asarray(multiples).reshape(-1))
    if len(multiples) != input.ndim:
        raise ValueError(f"tile: `multiples` must have one entry per axis of the input "
                         f"(rank {input.ndim}), received {list(multiples)}")
    return jnp.tile(input, multiples)


def split(value, num_or_size_splits, axis=0, num=None, name=None):
    """A list of pieces along `axis`: `num_or_size_splits` equal ones, or pieces of the
    given sizes (one may be -1: the rest)."""
    value = jnp.asarray(value)
    length = value.shape[axis]
    if isinstance(num_or_size_splits, numbers.Integral):
        n = int(num_or_size_splits)
        if n <= 0 or length % n:
            raise ValueError(f"split: axis {axis} of size {length} does not split into "
                             f"{n} equal pieces")
        return jnp.split(value, n, axis=axis)
    sizes = [int(s) for s in np.asarray(num_or_size_splits).reshape(-1)]
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
        raise ValueError(f"split: sizes must be non-negative with at most one -1, received "
                         f"{sizes}")
    if -1 in sizes:
        sizes[sizes.index(-1)] = length - (sum(sizes) + 1)
    if sum(sizes) != length or min(sizes) < 0:
        raise ValueError(f"split: sizes {list(num_or_size_splits)} do not add up to the "
                         f"size {length} of axis {axis}")
    return jnp.split(value, np.cumsum(sizes)[:-1].tolist(), axis=axis)


def unstack(value, num=None, axis=0, name=None):
    """The slices of `value` along `axis`, as a list."""
    value = jnp.asarray(value)
    count = value.shape[axis]
    if num is not None and num != count:
        raise ValueError(f"unstack: num={num} but axis {axis} has size {count}")
    return [jnp.take(value, i, axis=axis) for i in range(count)]


_PAD_MODES = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None):
    """Pad each axis by paddings[i] = [before, after] (TF's modes: CONSTANT, REFLECT,
    SYMMETRIC, any case)."""
    jmode = _PAD_MODES.get(str(mode).upper())
    if jmode is None:
        raise ValueError(f"pad: `mode` must be one of {sorted(_PAD_MODES)}, received "
                         f"mode={mode!r}")
    tensor = jnp.asarray(tensor)
    widths = [tuple(int(w) for w in row) for row in np.asarray(paddings).reshape(-1, 2)]
    if len(widths) != tensor.ndim:
        raise ValueError(f"pad: `paddings` must have shape [{tensor.ndim}, 2] for a rank-"
                         f"{tensor.ndim} tensor, received {np.asarray(paddings).shape}")
    if any(w < 0 for row in widths for w in row):
        raise ValueError(f"pad: `paddings` must be non-negative, received "
                         f"{[list(row) for row in widths]}")
    if jmode != "constant":
        # TF's MirrorPad stops at one reflection (jnp would reflect again past the edge):
        # REFLECT may add at most size - 1 entries on a side, SYMMETRIC at most size
        for axis, (row, size) in enumerate(zip(widths, tensor.shape)):
            limit = size - 1 if jmode == "reflect" else size
            if max(row) > limit:
                raise ValueError(f"pad: {jmode.upper()} paddings on axis {axis} (size {size}) "
                                 f"must be at most {limit}, received {list(row)}")
    if jmode == "constant":
        return jnp.pad(tensor, widths, constant_values=constant_values)
    return jnp.pad(tensor, widths, mode=jmode)


def reverse(tensor, axis, name=None):
    """Reverse the order along each axis in `axis` (a list, as TF)."""
    return jnp.flip(jnp.asarray(tensor), axis=tuple(np.asarray(axis).reshape(-1).tolist()))


def _direction(direction):
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ValueError(f"`direction` must be 'ASCENDING' or 'DESCENDING', received "
                         f"direction={direction!r}")
    return direction == "DESCENDING"


def sort(values, axis=-1, direction="ASCENDING", name=None):
    values = jnp.asarray(values)
    return jnp.sort(values, axis=axis, descending=_direction(direction))


def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None):
    """The indices that sort `values` along `axis` (int32, as TF)."""
    values = jnp.asarray(values)
    order = jnp.argsort(values, axis=axis, stable=True, descending=_direction(direction))
    return order.astype(int32)


def sequence_mask(lengths, maxlen=None, dtype="bool", name=None):
    """mask[..., j] = j < lengths[...]; `maxlen` defaults to the largest length."""
    lengths = jnp.asarray(lengths)
    if maxlen is None and isinstance(lengths, jax.core.Tracer):
        raise ValueError("sequence_mask: without `maxlen` the mask's width is the largest "
                         "length, which traced lengths do not have yet; pass maxlen=<the "
                         "padded length> inside xf.function")
    if maxlen is None:
        maxlen = int(jnp.max(lengths)) if lengths.size else 0
    mask = jnp.arange(int(maxlen)) < lengths[..., None]
    return mask.astype(as_dtype(dtype))


def repeat(input, repeats, axis=None, name=None):
    """Repeat each element `repeats` times along `axis` (the flattened input when None)."""
    repeats = jnp.asarray(repeats) if isinstance(repeats, (list, tuple)) else repeats
    return jnp.repeat(jnp.asarray(input), repeats, axis=axis)


def roll(input, shift, axis, name=None):
    """Shift elements cyclically by `shift` along `axis` (both may be lists)."""
    shift = tuple(shift) if isinstance(shift, list) else shift
    axis = tuple(axis) if isinstance(axis, list) else axis
    return jnp.roll(jnp.asarray(input), shift, axis=axis)


def meshgrid(*args, indexing="xy", name=None):
    return jnp.meshgrid(*(_tensor(a) for a in args), indexing=indexing)


def _nd_index(indices):
    indices = jnp.asarray(indices)
    return tuple(indices[..., k] for k in range(indices.shape[-1]))


def scatter_nd(indices, updates, shape, name=None):
    """Zeros of `shape` with `updates` added at `indices` (duplicates sum, as TF)."""
    updates = jnp.asarray(updates)
    shape = tuple(int(s) for s in np.asarray(shape).reshape(-1))
    return jnp.zeros(shape, updates.dtype).at[_nd_index(indices)].add(updates)


def tensor_scatter_nd_update(tensor, indices, updates, name=None):
    """`tensor` with the entries (or slices) at `indices` replaced by `updates`."""
    tensor = jnp.asarray(tensor)
    return tensor.at[_nd_index(indices)].set(jnp.asarray(updates, tensor.dtype))


def tensor_scatter_nd_add(tensor, indices, updates, name=None):
    """`tensor` with `updates` added at `indices` (duplicates sum)."""
    tensor = jnp.asarray(tensor)
    return tensor.at[_nd_index(indices)].add(jnp.asarray(updates, tensor.dtype))


def tensor_scatter_nd_sub(tensor, indices, updates, name=None):
    """`tensor` with `updates` subtracted at `indices` (duplicates sum)."""
    tensor = jnp.asarray(tensor)
    return tensor.at[_nd_index(indices)].add(-jnp.asarray(updates, tensor.dtype))


def tensor_scatter_nd_min(tensor, indices, updates, name=None):
    """`tensor` with the entries at `indices` lowered to `updates` where those are smaller."""
    tensor = jnp.asarray(tensor)
    return tensor.at[_nd_index(indices)].min(jnp.asarray(updates, tensor.dtype))


def tensor_scatter_nd_max(tensor, indices, updates, name=None):
    """`tensor` with the entries at `indices` raised to `updates` where those are larger."""
    tensor = jnp.asarray(tensor)
    return tensor.at[_nd_index(indices)].max(jnp.asarray(updates, tensor.dtype))


def boolean_mask(tensor, mask, axis=None, name=None):
    """The entries (or slices) of `tensor` where `mask` is true. The result's size depends
    on the mask's values, so the mask must be known: eager code and tf.data maps only."""
    if isinstance(mask, jax.core.Tracer) or isinstance(tensor, jax.core.Tracer):
        raise TypeError(
            "boolean_mask: the result's shape depends on the mask's values, which XLA needs "
            "when the function is traced; inside xf.function use tf.where(mask, x, 0) (keep "
            "the shape), or multiply by tf.cast(mask, x.dtype) and reduce")
    tensor, mask = np.asarray(tensor), np.asarray(mask, bool)
    if tensor.dtype.kind in "USO":  # before indexing: the op's text form checks the mask
        raise TypeError(f"boolean_mask: received text ({tensor.dtype}); XLA holds no strings")
    from xlaflow._host_text_ops import check_mask  # TF's checks, one copy for both forms
    check_mask(tensor.shape, mask.shape, axis)
    axis = 0 if axis is None else int(axis)
    index = (slice(None),) * axis + (mask,)
    return jnp.asarray(tensor[index])
