"""Reshaping layers: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, RepeatVector and
Permute (channels-last, with Keras 2's arguments and configs)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from xlaflow.layers import _data_format
from xlaflow.layers.base import Layer
from xlaflow.layers.input_casting import cast_integer_inputs


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _pair(layer, name, value):
    """(a, b) from an int (both ends) or a pair of ints, all >= 0."""
    pair = (value, value) if _is_int(value) else value
    try:
        ok = len(pair) == 2 and all(_is_int(v) and v >= 0 for v in pair)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{layer}: {name} must be an int or a tuple of 2 ints, all >= 0; "
                         f"received {value!r}")
    return int(pair[0]), int(pair[1])


def _pairs(layer, name, value):
    """((top, bottom), (left, right)) from an int, a pair (height, width) of ints or pairs,
    or the pairs themselves."""
    if _is_int(value):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{layer}: {name} must be an int, a tuple of 2 ints or a tuple of 2 "
                         f"tuples of 2 ints ((top, bottom), (left, right)); received "
                         f"{value!r}")
    return tuple(_pair(layer, f"{name} ({axis})", v) for axis, v in
                 zip(("height", "width"), value))


def _rank(layer, inputs, rank, layout):
    if inputs.ndim != rank:
        raise ValueError(f"{layer.name}: expects inputs of rank {rank} {layout}; received "
                         f"shape {tuple(inputs.shape)}")


def _image_layout(layer):
    return "(batch, channels, height, width)" if layer.data_format == _data_format.FIRST \
        else "(batch, height, width, channels)"


def _pad(inputs, pads, data_format=_data_format.LAST):
    """Zero-pad the spatial axes by `pads` ((before, after) per spatial axis)."""
    return jnp.pad(inputs, _data_format.per_axis(data_format, pads, (0, 0), (0, 0)))


def _crop(layer, inputs, crops, data_format=_data_format.LAST):
    index = [slice(None)] * (2 if data_format == _data_format.FIRST else 1)
    first = len(index)
    for axis, (before, after) in enumerate(crops, start=first):
        size = inputs.shape[axis]
        if before + after >= size:
            raise ValueError(f"{layer.name}: cropping {before} + {after} leaves nothing of "
                             f"axis {axis} of the input (size {size}); received shape "
                             f"{tuple(inputs.shape)}")
        index.append(slice(before, size - after))
    return inputs[tuple(index)]


class ZeroPadding1D(Layer):
    """Zeros added at the start and end of the steps axis of (batch, steps, features)."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pair(type(self).__name__, "padding", padding)

    def call(self, inputs):
        _rank(self, inputs, 3, "(batch, steps, features)")
        return _pad(inputs, (self.padding,))

    def get_config(self):
        return {**super().get_config(), "padding": list(self.padding)}


class ZeroPadding2D(Layer):
    """Zero rows and columns around (batch, height, width, channels) images: `padding` is
    an int, (height, width), or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format.resolve(type(self).__name__, data_format)
        self.padding = _pairs(type(self).__name__, "padding", padding)

    def call(self, inputs):
        _rank(self, inputs, 4, _image_layout(self))
        return _pad(inputs, self.padding, self.data_format)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding],
                "data_format": self.data_format}


class Cropping1D(Layer):
    """Removes `cropping` = (start, end) steps from (batch, steps, features)."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair(type(self).__name__, "cropping", cropping)

    def call(self, inputs):
        _rank(self, inputs, 3, "(batch, steps, features)")
        return _crop(self, inputs, (self.cropping,))

    def get_config(self):
        return {**super().get_config(), "cropping": list(self.cropping)}


class Cropping2D(Layer):
    """Removes rows and columns from (batch, height, width, channels) images: `cropping` is
    an int, (height, width), or ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format.resolve(type(self).__name__, data_format)
        self.cropping = _pairs(type(self).__name__, "cropping", cropping)

    def call(self, inputs):
        _rank(self, inputs, 4, _image_layout(self))
        return _crop(self, inputs, self.cropping, self.data_format)

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping],
                "data_format": self.data_format}


def _sizes(layer, value, rank):
    sizes = (value,) * rank if _is_int(value) else value
    try:
        ok = len(sizes) == rank and all(_is_int(s) and s > 0 for s in sizes)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{layer}: size must be a positive int or a tuple of {rank} positive "
                         f"ints; received {value!r}")
    return tuple(int(s) for s in sizes)


class UpSampling1D(Layer):
    """Repeats each step `size` times: (batch, steps, features) -> (batch, steps*size, ...)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = _sizes(type(self).__name__, size, 1)[0]

    def call(self, inputs):
        _rank(self, inputs, 3, "(batch, steps, features)")
        return jnp.repeat(inputs, self.size, axis=1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


# Keras 2 accepts these (through tf.image.resize); xlaflow implements the first two.
_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos3", "lanczos5",
                   "gaussian", "mitchellcubic")


def _bilinear_axis(x, axis, scale):
    """`x` resized `scale` times along `axis` as tf.image.resize(method='bilinear') does
    (half-pixel centers, no antialiasing): source position (i + 0.5) / scale - 0.5, its two
    neighbours clamped to the edges, linearly interpolated."""
    size = x.shape[axis]
    out = np.arange(size * scale, dtype=np.float32)
    source = (out + np.float32(0.5)) * np.float32(size / (size * scale)) - np.float32(0.5)
    floor = np.floor(source)
    lerp = (source - floor).astype(np.float32)
    low = np.clip(floor, 0, size - 1).astype(np.int32)
    high = np.clip(np.ceil(source), 0, size - 1).astype(np.int32)
    shape = [1] * x.ndim
    shape[axis] = -1
    a, b = jnp.take(x, low, axis=axis), jnp.take(x, high, axis=axis)
    return a + (b - a) * jnp.asarray(lerp, x.dtype).reshape(shape)


class UpSampling2D(Layer):
    """Images `size` = (rows, columns) times larger: 'nearest' repeats pixels, 'bilinear'
    interpolates as Keras 2 (tf.image.resize, half-pixel centers)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.data_format = _data_format.resolve(name, data_format)
        self.size = _sizes(name, size, 2)
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"{name}: interpolation must be one of {list(_INTERPOLATIONS)}; "
                             f"received {interpolation!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise NotImplementedError(
                f"{name}: interpolation={interpolation!r} is not supported; use 'nearest' or "
                "'bilinear', or resize with jax.image.resize in a custom layer")
        self.interpolation = interpolation

    def call(self, inputs):
        _rank(self, inputs, 4, _image_layout(self))
        rows, columns = _data_format.spatial_axes(self.data_format, 4)
        if self.interpolation == "nearest":
            return jnp.repeat(jnp.repeat(inputs, self.size[0], axis=rows), self.size[1],
                              axis=columns)
        inputs = cast_integer_inputs(inputs, self.compute_dtype)  # tf.image.resize: floats
        return _bilinear_axis(_bilinear_axis(inputs, columns, self.size[1]), rows,
                              self.size[0])

    def get_config(self):
        return {**super().get_config(), "size": list(self.size),
                "data_format": self.data_format, "interpolation": self.interpolation}


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the input repeated `n` times."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not _is_int(n) or n <= 0:
            raise ValueError(f"RepeatVector: n must be a positive int; received {n!r}")
        self.n = int(n)

    def call(self, inputs):
        _rank(self, inputs, 2, "(batch, features)")
        return jnp.broadcast_to(inputs[:, None, :], (inputs.shape[0], self.n,
                                                     inputs.shape[1]))

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Reorders the axes after the batch: `dims` is a permutation of 1..rank-1 (1-based, as
    Keras), so Permute((2, 1)) swaps the two axes of (batch, a, b)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            ok = all(_is_int(d) for d in dims) and \
                sorted(dims) == list(range(1, len(dims) + 1))
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"Permute: dims must be a permutation of 1..n (axes after the "
                             f"batch, counted from 1), such as (2, 1); received {dims!r}")
        self.dims = tuple(int(d) for d in dims)

    def call(self, inputs):
        if inputs.ndim != len(self.dims) + 1:
            raise ValueError(f"{self.name}: dims {self.dims} permute {len(self.dims)} axes, "
                             f"but the input has {inputs.ndim - 1} after the batch; received "
                             f"shape {tuple(inputs.shape)}")
        return jnp.transpose(inputs, (0, *self.dims))

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}
