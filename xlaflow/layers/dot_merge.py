"""Dot: the per-example dot product of two tensors along given axes (Keras 2's merging
layer, `backend.batch_dot`), and its functional form `dot([a, b], axes)`."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow.layers.base import Layer
from xlaflow.math_extra import l2_normalize


def _axes_argument(axes):
    """`axes` checked as Keras 2's Dot: an int, or a list/tuple of two ints."""
    if isinstance(axes, bool) or not isinstance(axes, (int, list, tuple)):
        raise TypeError(f"Dot: axes must be an int or a list/tuple of two ints; received "
                        f"{axes!r}")
    if isinstance(axes, int):
        return axes
    if len(axes) != 2 or not all(isinstance(a, int) and not isinstance(a, bool)
                                 for a in axes):
        raise ValueError(f"Dot: axes must be an int or a list/tuple of two ints; received "
                         f"{axes!r}")
    return list(axes)


class Dot(Layer):
    """`Dot(axes)([x, y])`: for each example, the sum of `x * y` over `x`'s axis axes[0]
    and `y`'s axis axes[1] (an int: the same axis of both; negative counts from the end).

    The output's axes are `x`'s other non-batch axes, then `y`'s (Keras 2's batch_dot); two
    (batch, n) inputs give (batch, 1). With normalize=True both inputs are l2-normalized
    along those axes first: the output is then the cosine proximity. The output has no
    mask (Keras 2).
    """

    supports_masking = True

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.axes = _axes_argument(axes)
        self.normalize = bool(normalize)

    def _resolved_axes(self, shapes):
        """The two non-negative axes for inputs of `shapes`, checked: never the batch axis,
        equal sizes along them. Raises before anything is computed or built."""
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 2 or not all(
                isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(f"{self.name} (Dot): inputs must be a list of 2 tensors; "
                             f"received input shape(s) {shapes!r}")
        shapes = [tuple(s) for s in shapes]
        for i, shape in enumerate(shapes):
            if len(shape) < 2:
                raise ValueError(f"{self.name} (Dot): input {i} must have rank >= 2 (batch, "
                                 f"...); received shape {shape}")
        given = [self.axes] * 2 if isinstance(self.axes, int) else self.axes
        axes = []
        for i, (axis, shape) in enumerate(zip(given, shapes)):
            if not -len(shape) <= axis < len(shape):
                raise ValueError(f"{self.name} (Dot): axes={self.axes!r} is out of range for "
                                 f"input {i} of shape {shape}")
            axes.append(axis % len(shape))
        if 0 in axes:
            raise ValueError(f"{self.name} (Dot): axes={self.axes!r} reaches the batch axis "
                             f"0, which Dot cannot sum over; input shapes {shapes}")
        a, b = shapes[0][axes[0]], shapes[1][axes[1]]
        if a is not None and b is not None and a != b:
            raise ValueError(f"{self.name} (Dot): incompatible input shapes: size {a} at "
                             f"axis {axes[0]} != size {b} at axis {axes[1]}; input shapes "
                             f"{shapes[0]}, {shapes[1]}")
        n, m = shapes[0][0], shapes[1][0]
        if n is not None and m is not None and n != m:
            raise ValueError(f"{self.name} (Dot): the inputs' batch sizes differ; input "
                             f"shapes {shapes[0]}, {shapes[1]}")
        return axes

    def build(self, input_shape):
        self._resolved_axes(input_shape)  # shapes checked only: Dot has no weights
        self.built = True

    def call(self, inputs):
        shapes = [tuple(jnp.shape(x)) for x in inputs] \
            if isinstance(inputs, (list, tuple)) else tuple(jnp.shape(inputs))
        a, b = self._resolved_axes(shapes)
        x, y = jnp.asarray(inputs[0]), jnp.asarray(inputs[1])
        if self.normalize:
            x, y = l2_normalize(x, a), l2_normalize(y, b)
        out = jax.vmap(lambda u, v: jnp.tensordot(u, v, axes=([a - 1], [b - 1])))(x, y)
        return out[:, None] if out.ndim == 1 else out  # batch_dot keeps a feature axis

    def compute_mask(self, inputs, mask=None):
        """None (no mask): Keras 2's Dot drops its inputs' masks."""

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def dot(inputs, axes, normalize=False, **kwargs):
    """`Dot(axes, normalize, **kwargs)(inputs)`: the dot product of two tensors."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
