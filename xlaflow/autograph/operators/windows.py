"""`ag__.get_window(x, key, text)`: `x[i:i+k]` as Python slices it, or, where a start is
traced, a window of the static size `k` read with lax.dynamic_slice (converters/windows.py).

TF slices at a tensor start with a run-time size and returns fewer elements where the
window passes the end of the axis; an XLA slice has one size, so such a start fails when the
program runs instead of silently reading another window (a loop counter known to stay in
range is not checked: see _index_bounds).
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from xlaflow import _index_bounds, _runtime_checks
from xlaflow.autograph.operators.dispatch import is_traced

py_slice = slice  # for key elements the converter writes as calls: the user may shadow it


class Span:
    """A slice `start:stop` whose size `stop - start` the converter proved free of `start`:
    an int, or a thunk computing it (read only where the start is traced)."""

    __slots__ = ("_size", "start", "stop")

    def __init__(self, start, stop, size):
        self.start, self.stop, self._size = start, stop, size

    @property
    def size(self):
        return self._size() if callable(self._size) else self._size

    def as_slice(self):
        # the bounds as the user wrote them: `(t-w) + w` need not be `t` for floats
        return slice(self.start, self.stop)


def get_window(target, key, text):
    """`target[key]`, the key's Spans as the slices the user wrote."""
    items = key if type(key) is tuple else (key,)
    if any(type(k) is Span and is_traced(k.start) for k in items):
        return _window(target, items, text)
    plain = tuple(k.as_slice() if type(k) is Span else k for k in items)
    return target[plain if type(key) is tuple else plain[0]]


def _axes(items, ndim):
    """The axis of `target` each key element indexes (None for np.newaxis)."""
    taken = sum(_width(k) for k in items if k is not None and k is not Ellipsis)
    axes, axis = [], 0
    for k in items:
        if k is None:
            axes.append(None)
        elif k is Ellipsis:
            axes.append(None)
            axis += max(ndim - taken, 0)
        else:
            axes.append(axis)
            axis += _width(k)
    return axes


def _width(k):
    """How many axes a key element consumes (a boolean mask: its own rank)."""
    dtype = getattr(k, "dtype", None)
    return max(np.ndim(k), 1) if dtype is not None and dtype == np.bool_ else 1


def _window(target, items, text):
    if not isinstance(target, (jax.Array, np.ndarray)) and \
            not hasattr(target, "__jax_array__"):
        # A list or string cannot be sliced at a traced start: Python says why.
        return target[tuple(k.as_slice() if type(k) is Span else k for k in items)]
    array = jnp.asarray(target)
    rest = []
    for k, axis in zip(items, _axes(items, array.ndim)):
        if type(k) is not Span or not is_traced(k.start):  # a known start slices as Python
            rest.append(k.as_slice() if type(k) is Span else k)
            continue
        rest.append(slice(None))
        array = _slice_axis(array, axis, k, text)
    if all(type(k) is slice and k == slice(None) for k in rest):
        return array
    return array[tuple(rest)]


def _slice_axis(array, axis, span, text):
    if axis is None or axis >= array.ndim:
        raise IndexError(f"{text}: too many indices for an array of rank {array.ndim}")
    dim = array.shape[axis]
    size = _static_size(span.size, text)
    start = jnp.asarray(span.start)
    if start.ndim or not jnp.issubdtype(start.dtype, jnp.integer):
        raise TypeError(f"{text}: a slice's start must be an integer scalar; received a "
                        f"tensor of shape {start.shape} and dtype {start.dtype}")
    if size <= 0:  # `x[i:i]`: empty wherever it starts, as in Python
        return lax.slice_in_dim(array, 0, 0, axis=axis)
    if size > dim:
        raise ValueError(
            f"{text}: a window of {size} elements along an axis of {dim}: TF would return "
            f"the {dim} there are, but a compiled slice has one size; slice at most {dim}")
    if _index_bounds.within(span.start, dim - size + 1):  # a loop counter kept in range
        return lax.dynamic_slice_in_dim(array, start, size, axis=axis,
                                        allow_negative_indices=False)
    inside = ((start >= 0) & (start + size <= dim)) | \
        ((start >= -dim) & (start + size <= -1))
    _runtime_checks.check(inside, lambda at: IndexError(
        f"{text}: the window [{int(at)}:{int(at) + size}] leaves the axis of {dim} "
        f"elements. TF would return fewer elements; a compiled slice has {size}, so its "
        f"start must lie in [0, {dim - size}] (or [-{dim}, {-size - 1}] from the end)"), start)
    return lax.dynamic_slice_in_dim(array, start, size, axis=axis)  # (negatives from the end)


def _static_size(size, text):
    if is_traced(size):
        raise TypeError(
            f"{text}: inside a compiled function a slice needs a size known when tracing "
            "(XLA arrays have fixed shapes), and this one depends on a tensor. Use a Python "
            "int for the size (the start may be a tensor), or pad to a fixed size and mask")
    try:
        return operator.index(size)
    except TypeError:
        raise TypeError(f"{text}: a slice's size must be an integer; received "
                        f"{type(size).__name__} {size!r}") from None
