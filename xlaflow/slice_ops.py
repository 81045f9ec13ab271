"""TF's slicing ops by their names: slice, strided_slice (with TF's bit masks), broadcast_to.

Each builds the NumPy index or shape that TF's arguments describe, so XLA sees one static
slice; bounds and sizes are checked here, naming the argument, where jnp would clip silently.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def _static_ints(value, name, where):
    """`value` (a list, NumPy array or concrete tensor) as a tuple of Python ints."""
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"{where}: argument '{name}' must be known when the function is "
                        f"traced (a Python list or NumPy array); received a traced tensor")
    array = np.asarray(value)
    if array.ndim > 1 or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{where}: argument '{name}' must be a 1-D list of ints; received "
                        f"{value!r}")
    return tuple(int(v) for v in array.reshape(-1))


def slice(input_, begin, size, name=None):
    """`size[i]` entries of `input_` from `begin[i]` on each axis; `size[i] = -1` takes the
    rest of the axis (TF's tf.slice). A traced `begin` becomes a dynamic slice."""
    input_ = jnp.asarray(input_)
    size = _static_ints(size, "size", "xf.slice")
    if len(size) != input_.ndim:
        raise ValueError(f"xf.slice: argument 'size' needs one entry per axis of the input "
                         f"(rank {input_.ndim}); received {list(size)}")
    if isinstance(begin, jax.core.Tracer):
        if any(s < 0 for s in size):
            raise ValueError("xf.slice: size -1 needs a 'begin' known when the function is "
                             "traced; give every size explicitly")
        return lax.dynamic_slice(input_, tuple(jnp.asarray(begin)), size)
    begin = _static_ints(begin, "begin", "xf.slice")
    if len(begin) != input_.ndim:
        raise ValueError(f"xf.slice: argument 'begin' needs one entry per axis of the input "
                         f"(rank {input_.ndim}); received {list(begin)}")
    index = []
    for axis, (start, length, dim) in enumerate(zip(begin, size, input_.shape)):
        stop = dim if length == -1 else start + length
        if not (0 <= start <= dim and length >= -1 and start <= stop <= dim):
            raise ValueError(f"xf.slice: on axis {axis} (size {dim}) begin={start}, "
                             f"size={length} reaches outside the input; received "
                             f"begin={list(begin)}, size={list(size)}, shape={input_.shape}")
        index.append(np.s_[start:stop])
    return input_[tuple(index)]


def _bit(mask, i):
    return bool((int(mask) >> i) & 1)


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0,
                  ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0, var=None, name=None):
    """`input_[begin[0]:end[0]:strides[0], ...]` with TF's masks: bit i of `begin_mask` /
    `end_mask` ignores begin[i] / end[i], of `ellipsis_mask` puts `...`, of `new_axis_mask`
    a new axis, of `shrink_axis_mask` the single index begin[i] (TF's tf.strided_slice)."""
    input_ = jnp.asarray(input_)
    begin = _static_ints(begin, "begin", "xf.strided_slice")
    end = _static_ints(end, "end", "xf.strided_slice")
    strides = (1,) * len(begin) if strides is None else \
        _static_ints(strides, "strides", "xf.strided_slice")
    if not len(begin) == len(end) == len(strides):
        raise ValueError(f"xf.strided_slice: 'begin', 'end' and 'strides' must have the same "
                         f"length; received {list(begin)}, {list(end)}, {list(strides)}")
    if 0 in strides:
        raise ValueError(f"xf.strided_slice: 'strides' must be non-zero; received "
                         f"{list(strides)}")
    # The input axis each position reads: an ellipsis spans those no other position names,
    # a new axis reads none.
    named = sum(1 for i in range(len(begin))
                if not _bit(ellipsis_mask, i) and not _bit(new_axis_mask, i))
    axis = 0
    index = []
    for i, (start, stop, step) in enumerate(zip(begin, end, strides)):
        if _bit(ellipsis_mask, i):
            index.append(Ellipsis)
            axis += max(input_.ndim - named, 0)
            continue
        if _bit(new_axis_mask, i):
            index.append(None)
            continue
        dim = input_.shape[axis] if axis < input_.ndim else None
        axis += 1
        if _bit(shrink_axis_mask, i):
            # one index, which jnp would clamp silently: TF refuses it
            if dim is not None and not -dim <= start < dim:
                raise ValueError(f"xf.strided_slice: begin[{i}]={start} (shrink_axis_mask) "
                                 f"is outside axis {axis - 1} (size {dim}) of the input of "
                                 f"shape {input_.shape}")
            index.append(start)
        else:
            index.append(np.s_[None if _bit(begin_mask, i) else start:
                               None if _bit(end_mask, i) else stop:step])
    return input_[tuple(index)]


def broadcast_to(input, shape, name=None):
    """`input` repeated along new or size-1 axes to `shape` (NumPy's broadcasting rules)."""
    input = jnp.asarray(input)
    shape = _static_ints(shape, "shape", "xf.broadcast_to")
    try:
        return jnp.broadcast_to(input, shape)
    except ValueError:
        raise ValueError(f"xf.broadcast_to: an input of shape {input.shape} cannot broadcast "
                         f"to argument 'shape' {list(shape)}: each input axis, counted from "
                         "the last, must be 1 or equal the target's") from None
