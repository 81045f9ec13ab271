"""xf.image's stateless random augmentations (TF's tf.image.stateless_random_*) and the
brightness/contrast adjustments they apply: the draw depends on a [2] `seed` alone.

As in TF, each op draws with xf.random.stateless_uniform from `seed`, so a test or a user can
replay the draw. NumPy in gives NumPy out (a tf.data map stays on the host); jax arrays and
tracers (inside xf.function) give jax arrays.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import random as _random
from xlaflow.image import _check_rank, convert_image_dtype, flip_left_right, flip_up_down


def _check_seed(name, seed):
    seed = seed if isinstance(seed, jax.Array) else np.asarray(seed)
    if seed.shape != (2,) or not np.issubdtype(seed.dtype, np.integer):
        raise ValueError(f"tf.image.{name}: seed must be a shape [2] integer tensor; "
                         f"received shape {seed.shape} and dtype {seed.dtype}")
    return seed


@functools.partial(jax.jit, static_argnames=("shape", "dtype"))
def _uniform(seed, minval, maxval, shape, dtype):
    """xf.random.stateless_uniform compiled once per shape: a tf.data map calling it per
    element runs one cached program, not op by op."""
    return _random.stateless_uniform(shape, seed, minval, maxval, dtype)


def _on_host(image, *draws):
    # NumPy out only when everything is concrete: a NumPy image with a traced seed (inside
    # xf.function) must stay a jax value
    return isinstance(image, np.ndarray) and not any(
        isinstance(d, jax.core.Tracer) for d in draws)


def _finish(image, result, *draws):
    return np.asarray(result) if _on_host(image, *draws) else result


def _as_float(image):
    """TF's working dtype for the adjustments: float16/float32 stay, others go to float32
    through convert_image_dtype (integers to [0, 1])."""
    image = image if isinstance(image, (np.ndarray, jax.Array)) else jnp.asarray(image)
    if image.dtype in (np.float16, np.float32):
        return image, image.dtype
    return convert_image_dtype(image, np.float32), image.dtype


def adjust_brightness(image, delta):
    """tf.image.adjust_brightness: `image + delta` in float (integers scaled to [0, 1] and
    back, saturating), the image's dtype kept."""
    flt, dtype = _as_float(image)
    xp = np if _on_host(flt, delta) else jnp
    adjusted = flt + xp.asarray(delta).astype(flt.dtype)
    return convert_image_dtype(adjusted, dtype, saturate=True)


def adjust_contrast(images, contrast_factor):
    """tf.image.adjust_contrast: each channel of each image moved away from (factor > 1) or
    towards (factor < 1) its mean over height and width: (x - mean) * factor + mean."""
    _check_rank("adjust_contrast", images)
    flt, dtype = _as_float(images)
    xp = np if _on_host(flt, contrast_factor) else jnp
    factor = xp.asarray(contrast_factor).astype(flt.dtype)
    mean = flt.mean(axis=(-3, -2), keepdims=True)
    adjusted = ((flt - mean) * factor + mean).astype(flt.dtype)
    return convert_image_dtype(adjusted, dtype, saturate=True)


def stateless_random_brightness(image, max_delta, seed):
    """tf.image.stateless_random_brightness: adjust_brightness by one delta drawn uniformly
    from [-max_delta, max_delta) with `seed`."""
    if max_delta < 0:
        raise ValueError(f"tf.image.stateless_random_brightness: max_delta must be "
                         f"non-negative; received {max_delta!r}")
    seed = _check_seed("stateless_random_brightness", seed)
    delta = _uniform(seed, -max_delta, max_delta, (), "float32")
    return _finish(image, adjust_brightness(image, delta), delta)


def stateless_random_contrast(image, lower, upper, seed):
    """tf.image.stateless_random_contrast: adjust_contrast by one factor drawn uniformly
    from [lower, upper) with `seed`."""
    if upper <= lower:
        raise ValueError(f"tf.image.stateless_random_contrast: upper must be > lower; "
                         f"received lower={lower!r}, upper={upper!r}")
    if lower < 0:
        raise ValueError(f"tf.image.stateless_random_contrast: lower must be non-negative; "
                         f"received {lower!r}")
    _check_rank("stateless_random_contrast", image)
    seed = _check_seed("stateless_random_contrast", seed)
    factor = _uniform(seed, lower, upper, (), "float32")
    return _finish(image, adjust_contrast(image, factor), factor)


def _random_flip(name, flip, image, seed):
    # TF's two rules: one uniform [0, 1) draw u for a 3-D image, flipped where u < 0.5;
    # one per image of a batch, flipped where round(u) is 1, i.e. u > 0.5 (half to even)
    ndim = _check_rank(name, image)
    seed = _check_seed(name, seed)
    shape = (np.shape(image)[0],) if ndim == 4 else ()
    draw = _uniform(seed, 0.0, 1.0, shape, "float32")
    coin = draw > 0.5 if ndim == 4 else draw < 0.5
    if _on_host(image, coin):
        coin = np.asarray(coin)
        return np.where(coin.reshape((-1, 1, 1, 1)) if ndim == 4 else coin,
                        flip(image), image)
    image = jnp.asarray(image)
    return jnp.where(coin.reshape((-1, 1, 1, 1)) if ndim == 4 else coin, flip(image), image)


def stateless_random_flip_left_right(image, seed):
    """tf.image.stateless_random_flip_left_right: each image flipped left-right where its
    uniform draw from `seed` is below 1/2."""
    return _random_flip("stateless_random_flip_left_right", flip_left_right, image, seed)


def stateless_random_flip_up_down(image, seed):
    """tf.image.stateless_random_flip_up_down: each image flipped up-down where its uniform
    draw from `seed` is below 1/2."""
    return _random_flip("stateless_random_flip_up_down", flip_up_down, image, seed)


def stateless_random_crop(value, size, seed, name=None):
    """tf.image.stateless_random_crop: a `size` window of `value` (any rank) at offsets
    drawn as TF does: uniform int32 draws from `seed`, modulo (shape - size + 1)."""
    shape = tuple(np.shape(value))
    if isinstance(size, jax.core.Tracer):
        raise TypeError("tf.image.stateless_random_crop: size sets the output's shape, so it "
                        "must be known when tracing; pass Python ints or a NumPy array")
    size = tuple(int(s) for s in np.asarray(size).reshape(-1))
    if len(size) != len(shape) or any(s < 0 or s > d for s, d in zip(size, shape)):
        raise ValueError(f"tf.image.stateless_random_crop: size must have one entry per "
                         f"dimension of value, each in [0, that dimension]; received size "
                         f"{list(size)} for value of shape {list(shape)}")
    seed = _check_seed("stateless_random_crop", seed)
    limit = np.array([d - s + 1 for s, d in zip(size, shape)], np.int32)
    draws = _uniform(seed, 0, np.iinfo(np.int32).max, (len(shape),), "int32")
    offsets = draws % limit
    if _on_host(value, offsets):
        start = np.asarray(offsets)
        return value[tuple(slice(o, o + s) for o, s in zip(start, size))]
    return jax.lax.dynamic_slice(jnp.asarray(value), tuple(offsets), size)
