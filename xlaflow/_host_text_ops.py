"""TF's shape and indexing ops on host text (expand_dims, concat, gather, where, ...): the
same ops on the NumPy str arrays that hold TF's string tensors, giving text HostTensors.

XLA holds no strings, so these never reach JAX: an op wrapper (_op_dispatch) comes here
only after its JAX function refused text, which leaves the numeric path's cost unchanged;
inside a trace text stays refused, with the clear error.
"""

from __future__ import annotations

import numpy as np

from xlaflow import _host_text


def _is_text_array(value):
    if not isinstance(value, np.ndarray):
        return False
    kind = value.dtype.kind
    return kind in "US" or kind == "O" and bool(_host_text.is_text(value))


def holds_text(values):
    """Whether text (a str/bytes array, a str, or a list of them) is among `values` or one
    level inside their lists and tuples (concat's and stack's list of tensors)."""
    for value in values:
        if _is_text_array(value) or isinstance(value, (str, bytes)):
            return True
        if type(value) in (list, tuple) and value and (
                _host_text.is_text(value) or any(_is_text_array(v) for v in value)):
            return True
    return False


def _text(value, op, what):
    """`value` as a host text array (str, or object of bytes), refusing numbers: TF's ops
    take one dtype, and text is never converted from numbers."""
    if _is_text_array(value):  # str, or object arrays of bytes (binary strings) kept
        return value.view(np.ndarray)
    if _host_text.is_text(value) or isinstance(value, (list, tuple)) and not value:
        return _host_text.host_text(value, None, op).view(np.ndarray)
    raise TypeError(f"tf.{op}: argument '{what}' must be text like the other inputs (tf.string),"
                    f" received {type(value).__name__} {value!r:.60}; TF's ops take one dtype: "
                    "format numbers as text first (tf.strings.as_string)")


def _alike(arrays):
    """The arrays in one form: all NumPy str, or (when some are binary strings, an object
    array of bytes) all object arrays of bytes, as TF's strings are bytes."""
    if all(a.dtype.kind != "O" for a in arrays):
        return arrays
    from xlaflow.data.host_tensor import text_as_bytes
    out = []
    for a in arrays:
        if a.dtype.kind == "O":
            out.append(a)
        else:
            b = text_as_bytes(a)
            out.append(np.array(b, dtype=object) if a.ndim else _scalar_object(b))
    return out


def _scalar_object(item):
    out = np.empty((), dtype=object)
    out[()] = item
    return out


def _tensor(array):
    return np.asarray(array).view(_host_text.host_tensor_type())


def _host_ints(value, op, what):
    """Indices, axes or multiples as a NumPy int array (concrete jax arrays are read)."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"tf.{op}: argument '{what}' must be integers, received "
                        f"{array.dtype} {value!r:.60}")
    return array


def _axis_in(axis, rank, op, what="axis"):
    axis = int(axis)
    if not -rank <= axis < rank:
        from xlaflow.errors import InvalidArgumentError
        raise InvalidArgumentError(None, None, f"tf.{op}: argument '{what}' = {axis} is not "
                                               f"in [{-rank}, {rank})")
    return axis % rank


def expand_dims(input, axis, name=None):
    array = _text(input, "expand_dims", "input")
    return _tensor(np.expand_dims(array, _axis_in(axis, array.ndim + 1, "expand_dims")))


def squeeze(input, axis=None, name=None):
    array = _text(input, "squeeze", "input")
    if axis is None:
        return _tensor(np.squeeze(array))
    axes = tuple(_axis_in(a, array.ndim, "squeeze")
                 for a in np.asarray(axis).reshape(-1).tolist())
    for a in axes:
        if array.shape[a] != 1:
            from xlaflow.errors import InvalidArgumentError
            raise InvalidArgumentError(None, None, f"Can not squeeze dim[{a}], expected a "
                                                   f"dimension of 1, got {array.shape[a]}")
    return _tensor(np.squeeze(array, axis=axes))


def reshape(tensor, shape, name=None):
    from xlaflow.ops import _check_reshape
    array = _text(tensor, "reshape", "tensor")
    dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    _check_reshape(array.shape, dims)
    return _tensor(array.reshape(dims))


def _many(values, op):
    if isinstance(values, np.ndarray):  # one tensor: its slices along the first axis
        values = list(values)
    arrays = _alike([_text(v, op, f"values[{i}]") for i, v in enumerate(values)])
    if not arrays:
        raise ValueError(f"tf.{op}: argument 'values' is empty; give at least one tensor")
    return arrays


def concat(values, axis, name=None):
    arrays = _many(values, "concat")
    rank = arrays[0].ndim
    if rank == 0:
        raise ValueError("tf.concat: the inputs are scalars, which have no axis to join "
                         "along; use tf.stack")
    axis = _axis_in(axis, rank, "concat")
    for i, a in enumerate(arrays):
        if a.ndim != rank or a.shape[:axis] + a.shape[axis + 1:] != \
                arrays[0].shape[:axis] + arrays[0].shape[axis + 1:]:
            raise ValueError(f"tf.concat: values[{i}] has shape {a.shape} but values[0] has "
                             f"{arrays[0].shape}; all sizes but axis {axis}'s must match")
    return _tensor(np.concatenate(arrays, axis=axis))


def stack(values, axis=0, name=None):
    arrays = _many(values, "stack")
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape:
            raise ValueError(f"tf.stack: values[{i}] has shape {a.shape} but values[0] has "
                             f"{arrays[0].shape}; stacked tensors must have one shape")
    axis = _axis_in(axis, arrays[0].ndim + 1, "stack")
    return _tensor(np.stack(arrays, axis=axis))


def transpose(a, perm=None, conjugate=False, name=None):
    array = _text(a, "transpose", "a")
    if perm is not None:
        perm = tuple(int(p) for p in np.asarray(perm).reshape(-1))
        if sorted(perm) != list(range(array.ndim)):
            from xlaflow.errors import InvalidArgumentError
            raise InvalidArgumentError(None, None, f"tf.transpose: argument 'perm' = "
                                                   f"{list(perm)} is not a permutation of "
                                                   f"the {array.ndim} axes")
    return _tensor(np.transpose(array, perm))


def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    array = _text(params, "gather", "params")
    index = _host_ints(indices, "gather", "indices")
    batch_dims = batch_dims + index.ndim if batch_dims < 0 else batch_dims
    axis = _axis_in(batch_dims if axis is None else axis, array.ndim, "gather")
    if not 0 <= batch_dims <= min(axis, index.ndim):
        raise ValueError(f"gather: `batch_dims` must be in [0, min(axis, rank(indices))] = "
                         f"[0, {min(axis, index.ndim)}], received batch_dims={batch_dims}")
    if array.shape[:batch_dims] != index.shape[:batch_dims]:  # zip below would truncate
        raise ValueError(f"gather: params' first {batch_dims} dimensions {array.shape[:batch_dims]}"
                         f" must equal indices' {index.shape[:batch_dims]} (batch_dims="
                         f"{batch_dims})")
    size = array.shape[axis]
    bad = (index < 0) | (index >= size)
    if bad.any():  # TF's CPU kernel refuses these (on a GPU it would give zeros)
        from xlaflow.errors import InvalidArgumentError
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidArgumentError(None, None, f"indices{list(where)} = {index[where]} is not "
                                               f"in [0, {size})")
    if batch_dims == 0:
        return _tensor(np.take(array, index, axis=axis))
    return _tensor(np.stack([gather(p, i, axis=axis - 1, batch_dims=batch_dims - 1)
                             .view(np.ndarray) for p, i in zip(array, index)]))


def tile(input, multiples, name=None):
    array = _text(input, "tile", "input")
    multiples = tuple(int(m) for m in _host_ints(multiples, "tile", "multiples").reshape(-1))
    if len(multiples) != array.ndim:
        raise ValueError(f"tile: `multiples` must have one entry per axis of the input "
                         f"(rank {array.ndim}), received {list(multiples)}")
    return _tensor(np.tile(array, multiples))


def boolean_mask(tensor, mask, axis=None, name=None):
    array = _text(tensor, "boolean_mask", "tensor")
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"tf.boolean_mask: argument 'mask' must be bool, received "
                        f"{mask.dtype}")
    check_mask(array.shape, mask.shape, axis)
    axis = 0 if axis is None else int(axis)
    return _tensor(array[(slice(None),) * axis + (mask,)])


def check_mask(shape, mask_shape, axis):
    """TF's boolean_mask checks, shared by the numeric form: a scalar mask has no axis to
    select along, and the mask's shape must be the tensor's from `axis` on."""
    if not mask_shape:
        raise ValueError("tf.boolean_mask: argument 'mask' cannot be scalar; give a mask of "
                         f"the tensor's leading dimensions, received shape {tuple(mask_shape)}")
    axis = 0 if axis is None else int(axis)
    if tuple(shape[axis:axis + len(mask_shape)]) != tuple(mask_shape):
        raise ValueError(f"tf.boolean_mask: mask of shape {tuple(mask_shape)} does not match "
                         f"the tensor's shape {tuple(shape)} from axis {axis}")


def reverse(tensor, axis, name=None):
    array = _text(tensor, "reverse", "tensor")
    axes = tuple(_axis_in(a, array.ndim, "reverse")
                 for a in _host_ints(axis, "reverse", "axis").reshape(-1).tolist())
    return _tensor(np.flip(array, axis=axes))


def fill(dims, value, name=None):
    """tf.fill with a text value: a host string array of shape `dims`."""
    shape = tuple(int(d) for d in _host_ints(dims, "fill", "dims").reshape(-1))
    return _tensor(np.full(shape, value))


def identity(input, name=None):
    return _tensor(_text(input, "identity", "input").copy())


def where(condition, x=None, y=None, name=None):
    if x is None or y is None:
        raise ValueError("xf.where: give both x and y (a selection), or neither (the "
                         f"coordinates of the true elements); received x={x!r:.60}, "
                         f"y={y!r:.60}")
    cond = np.asarray(condition)
    if cond.dtype != bool:
        raise TypeError(f"tf.where: argument 'condition' must be bool, received {cond.dtype}")
    a, b = _alike([_text(x, "where", "x"), _text(y, "where", "y")])
    try:
        np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError:
        from xlaflow.errors import InvalidArgumentError
        raise InvalidArgumentError(None, None, f"tf.where: condition {cond.shape}, x "
                                               f"{a.shape} and y {b.shape} do not "
                                               "broadcast to one shape") from None
    return _tensor(np.where(cond, a, b))


def equal(x, y, name=None):
    """Element-wise equality of text (str and bytes alike, as TF's strings are bytes)."""
    return _compare(x, y, "equal", np.equal)


def not_equal(x, y, name=None):
    return _compare(x, y, "not_equal", np.not_equal)


def _compare(x, y, op, compare):
    a, b = (t.astype(object) if t.dtype.kind == "S" else t  # NumPy bytes: as objects
            for t in (_text(x, op, "x"), _text(y, op, "y")))
    a, b = _alike([a, b])
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        from xlaflow.errors import InvalidArgumentError
        raise InvalidArgumentError(None, None, f"tf.{op}: x {a.shape} and y {b.shape} do "
                                               "not broadcast to one shape") from None
    return _tensor(compare(a, b))


# public op name -> its text form; the ops whose JAX form already takes host arrays (shape,
# size, rank, reshape of a NumPy array, indexing a HostTensor) need no entry to work, but
# reshape keeps one for text given as Python lists
OPS = {"expand_dims": expand_dims, "squeeze": squeeze, "reshape": reshape, "concat": concat,
       "stack": stack, "transpose": transpose, "gather": gather, "tile": tile,
       "boolean_mask": boolean_mask, "reverse": reverse, "identity": identity, "fill": fill,
       "where": where, "math.equal": equal, "equal": equal, "math.not_equal": not_equal,
       "not_equal": not_equal}
