"""Keras 2's projective image transform (tf.raw_ops.ImageProjectiveTransformV3) and the
rotation, zoom and translation matrices its geometric augmentation layers feed it.

A transform is 8 numbers [a0, a1, a2, b0, b1, b2, c0, c1] per image mapping each *output*
pixel (x, y) to the input point ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), with
k = c0 x + c1 y + 1; the input is sampled there with TF's interpolation and fill modes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# TF's fill modes -> jax.scipy.ndimage.map_coordinates' (TF's "wrap" repeats the image,
# which is jax's "wrap"; TF's "reflect" mirrors about the edge pixel's outer border)
FILL_MODES = {"reflect": "reflect", "wrap": "wrap", "constant": "constant",
              "nearest": "nearest"}
INTERPOLATIONS = {"bilinear": 1, "nearest": 0}


def check_fill_mode_and_interpolation(layer, fill_mode, interpolation):
    """Refuse a fill mode or interpolation TF does not have, naming the layer and value."""
    if fill_mode not in FILL_MODES:
        raise ValueError(f"{layer}: fill_mode must be one of {sorted(FILL_MODES)}; received "
                         f"{fill_mode!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{layer}: interpolation must be one of {sorted(INTERPOLATIONS)}; "
                         f"received {interpolation!r}")


def transform(images, transforms, fill_mode="reflect", interpolation="bilinear",
              fill_value=0.0):
    """`images` (n, h, w, c) resampled through `transforms` (n, 8), one per image, as
    tf.raw_ops.ImageProjectiveTransformV3 does; the output keeps the images' dtype."""
    _, h, w, _ = images.shape
    y, x = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                        indexing="ij")

    def one(image, t):
        k = t[6] * x + t[7] * y + 1.0
        src_x = (t[0] * x + t[1] * y + t[2]) / k
        src_y = (t[3] * x + t[4] * y + t[5]) / k

        def channel(plane):
            return jax.scipy.ndimage.map_coordinates(
                plane, [src_y, src_x], order=INTERPOLATIONS[interpolation],
                mode=FILL_MODES[fill_mode], cval=fill_value)
        return jax.vmap(channel, in_axes=-1, out_axes=-1)(image)

    out = jax.vmap(one)(images.astype(jnp.float32), transforms.astype(jnp.float32))
    return out.astype(images.dtype)


def rotation_transforms(angles, height, width):
    """Keras 2's get_rotation_matrix: counter-clockwise by `angles` (n,) radians about the
    image centre."""
    cos, sin = jnp.cos(angles), jnp.sin(angles)
    x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2.0
    y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2.0
    zeros = jnp.zeros_like(angles)
    return jnp.stack([cos, -sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)


def zoom_transforms(x_zooms, y_zooms, height, width):
    """Keras 2's get_zoom_matrix: output pixels read the input at `zoom` times their distance
    from the centre, so a zoom above 1 shows more of the image (zooms out)."""
    x_offset = (width - 1) / 2.0 * (1.0 - x_zooms)
    y_offset = (height - 1) / 2.0 * (1.0 - y_zooms)
    zeros = jnp.zeros_like(x_zooms)
    return jnp.stack([x_zooms, zeros, x_offset, zeros, y_zooms, y_offset, zeros, zeros],
                     axis=1)


def translation_transforms(dx, dy):
    """Keras 2's get_translation_matrix: the image moves right by `dx` and down by `dy`
    pixels (n,) each."""
    zeros, ones = jnp.zeros_like(dx), jnp.ones_like(dx)
    return jnp.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)
