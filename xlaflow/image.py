"""xf.image: TF2's tf.image ops that input pipelines and models use most (dtype conversion,
resize, flips, rot90), on NumPy arrays in a tf.data map and on jax arrays anywhere else.

NumPy in gives NumPy out where the op is a pure rearrangement (flips, rot90): tf.data's map
stays on the host. The random flips draw on the host; inside compiled code use the
stateless_random_* ops (image_stateless.py: a [2] seed) or keras.layers.RandomFlip.
"""

from __future__ import annotations

import functools
import threading

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _op_dispatch
from xlaflow import random as _random

# TF's method names -> jax.image.resize's; TF's "area" averages over source pixels, which
# jax has no kernel for.
_METHODS = {"bilinear": "linear", "nearest": "nearest", "bicubic": "cubic",
            "lanczos3": "lanczos3", "lanczos5": "lanczos5"}


def _xp(image):
    return np if isinstance(image, np.ndarray) else jnp


def _check_rank(name, image):
    ndim = np.ndim(image)
    if ndim not in (3, 4):
        raise ValueError(f"tf.image.{name}: image must be 3-D (height, width, channels) or "
                         f"4-D (batch, height, width, channels); received shape "
                         f"{np.shape(image)}")
    return ndim


def convert_image_dtype(image, dtype, saturate=False, name=None):
    """TF's rule: integers map [0, MAX] onto floats [0, 1] and back (x * (MAX + 0.5),
    truncated), floats cast between widths, integers rescale by the ratio of their MAXes."""
    dtype = jnp.dtype(dtype)
    xp = _xp(image)
    image = xp.asarray(image)
    source = image.dtype
    if source == dtype:
        return image
    src_int, dst_int = (np.issubdtype(t, np.integer) for t in (source, dtype))
    if not src_int and not dst_int:
        return image.astype(dtype)
    if src_int and not dst_int:
        return (image.astype(np.float64 if dtype == np.float64 else np.float32)
                / np.iinfo(source).max).astype(dtype)
    if not src_int and dst_int:
        info = np.iinfo(dtype)
        scaled = image.astype(np.float32) * (info.max + 0.5)
        if saturate:
            scaled = xp.clip(scaled, info.min, info.max)
        return scaled.astype(dtype)
    # integer to integer: scale by the ratio of the maxima (TF shifts bits; the same)
    ratio = (np.iinfo(dtype).max + 1) / (np.iinfo(source).max + 1)
    return (image.astype(np.float64 if xp is np else np.float32) * ratio).astype(dtype)


def check_method(method):
    """Refuse a resize method jax.image.resize has no kernel for, naming the ones it has."""
    if method not in _METHODS:
        raise NotImplementedError(
            f"tf.image.resize(method={method!r}) is not supported; use one of "
            f"{sorted(_METHODS)} (for 'area', average-pool after a bilinear resize)")


def resize(images, size, method="bilinear", preserve_aspect_ratio=False, antialias=False,
           name=None):
    """TF2's tf.image.resize: half-pixel centres, float32 out (nearest keeps the dtype)."""
    _check_rank("resize", images)
    check_method(method)
    if preserve_aspect_ratio:
        raise NotImplementedError("tf.image.resize(preserve_aspect_ratio=True) is not "
                                  "supported; compute the target size from the image's "
                                  "shape and pass it as size")
    size = tuple(int(s) for s in np.asarray(size).reshape(-1))
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"tf.image.resize: size must be [new_height, new_width] of positive "
                         f"ints; received {size!r}")
    array = images if isinstance(images, (np.ndarray, jax.Array)) else jnp.asarray(images)
    out = _resize(array, size, method, bool(antialias))
    return np.asarray(out) if isinstance(images, np.ndarray) else out


@functools.partial(jax.jit, static_argnames=("size", "method", "antialias"))
def _resize(array, size, method, antialias):
    """resize's program, compiled once per shape, dtype and static arguments: an eager call
    (a tf.data map on NumPy images) runs one cached program, not op by op."""
    target = (*array.shape[:-3], *size, array.shape[-1])
    out_dtype = array.dtype if method == "nearest" else jnp.float32
    if method != "nearest":
        array = array.astype(jnp.float32)
    return jax.image.resize(array, target, _METHODS[method], antialias=antialias).astype(
        out_dtype)


def flip_left_right(image):
    """Reverse the width axis (the second last)."""
    _check_rank("flip_left_right", image)
    return _xp(image).flip(image, axis=-2)


def flip_up_down(image):
    """Reverse the height axis (the third last)."""
    _check_rank("flip_up_down", image)
    return _xp(image).flip(image, axis=-3)


def rot90(image, k=1, name=None):
    """Rotate by k quarter turns counter-clockwise in the (height, width) plane."""
    _check_rank("rot90", image)
    return _xp(image).rot90(image, k=int(k), axes=(-3, -2))


_generators = {}
_seedings = [0]  # random._seedings when the streams were made
_lock = threading.Lock()


def _generator(seed):
    """The host stream for op seed `seed`, following TF's rules as xf.random does: an op
    seed pairs with the global seed (TF's default one before any set_seed), so a run
    repeats; set_seed restarts the streams; with neither seed, the draws are not fixed."""
    if seed is None and _random._set_seed[0] is None:
        key = None
    else:
        key = (_random.global_seed_for_op(), 2 ** 32 if seed is None else int(seed) % 2 ** 32)
    if _seedings[0] != _random._seedings[0]:  # set_seed restarts every stream
        _seedings[0] = _random._seedings[0]
        _generators.clear()
    if key not in _generators:
        _generators[key] = np.random.default_rng(None if key is None else list(key))
    return _generators[key]


def _host_coin(name, image, seed):
    if isinstance(image, jax.core.Tracer):
        raise NotImplementedError(
            f"tf.image.{name} draws on the host (for tf.data maps); in a model or an "
            f"xf.function use tf.image.stateless_{name}(image, seed) or "
            f"keras.layers.RandomFlip, which draw inside the program")
    with _lock:  # map runs on threads: one generator per op seed, drawn in turn
        generator = _generator(seed)
        if np.ndim(image) == 4:  # one coin per image, as TF
            return generator.random(np.shape(image)[0]) < 0.5
        return generator.random() < 0.5


def random_flip_left_right(image, seed=None):
    """Each image flipped left-right with probability 1/2 (a seeded host stream)."""
    _check_rank("random_flip_left_right", image)
    flip = _host_coin("random_flip_left_right", image, seed)
    return _xp(image).where(np.reshape(flip, (-1, 1, 1, 1)) if np.ndim(image) == 4 else flip,
                            flip_left_right(image), image)


def random_flip_up_down(image, seed=None):
    """Each image flipped up-down with probability 1/2 (a seeded host stream)."""
    _check_rank("random_flip_up_down", image)
    flip = _host_coin("random_flip_up_down", image, seed)
    return _xp(image).where(np.reshape(flip, (-1, 1, 1, 1)) if np.ndim(image) == 4 else flip,
                            flip_up_down(image), image)


def __getattr__(name):
    # tf.image names a port may reach for that xlaflow leaves out: still an AttributeError
    # (hasattr stays False), saying what to use instead
    if name in _NOT_PROVIDED:
        raise AttributeError(f"module 'xlaflow.image' has no attribute {name!r}: "
                             f"tf.image.{name} is not provided; {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'xlaflow.image' has no attribute {name!r}")


_HSV = ("needs an RGB<->HSV conversion xlaflow does not have; adjust the image in NumPy "
        "(e.g. with colorsys or PIL) inside a Dataset.map, or leave it out")
_NOT_PROVIDED = {
    "stateless_random_hue": _HSV,
    "stateless_random_saturation": _HSV,
    "random_hue": _HSV,
    "random_saturation": _HSV,
    "adjust_hue": _HSV,
    "adjust_saturation": _HSV,
    "stateless_random_jpeg_quality": "JPEG re-encoding is not an XLA op; re-encode with PIL "
                                     "in a Dataset.map if you need it",
    "random_jpeg_quality": "JPEG re-encoding is not an XLA op; re-encode with PIL in a "
                           "Dataset.map if you need it",
}

# the stateless random ops and the adjustments they apply: their own module, which uses
# the ops above (so imported at the end)
from xlaflow.image_stateless import (  # noqa: F401
    adjust_brightness,
    adjust_contrast,
    stateless_random_brightness,
    stateless_random_contrast,
    stateless_random_crop,
    stateless_random_flip_left_right,
    stateless_random_flip_up_down,
)

# Last, once every function exists: the public ones accept symbolic Keras tensors
_op_dispatch.expose(globals(), "image")
