"""keras.utils.image_dataset_from_directory (Keras 2.11): a directory of images, one
subdirectory per class, as an xf.data.Dataset of resized float32 images and their labels.

Files are decoded on the host with Pillow (tf.io.decode_image has no XLA form) in the
dataset's parallel map, and resized with TF's kernels in NumPy (resizing.py)."""

from __future__ import annotations

import numbers

import numpy as np

from xlaflow.keras.preprocessing import directory_index as index
from xlaflow.keras.preprocessing.resizing import INTERPOLATIONS, crop_to_aspect_ratio, resize

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CALLER = "image_dataset_from_directory"
# color_mode -> (Pillow's mode, channels); Pillow converts as TF's decoders do: "rgb" drops
# alpha, "rgba" adds an opaque one, "grayscale" is ITU-R 601 luma.
_COLOR_MODES = {"rgb": ("RGB", 3), "rgba": ("RGBA", 4), "grayscale": ("L", 1)}


def pillow_image_module(caller):
    """PIL.Image, or an ImportError that says how to install it."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(f"{caller} decodes images with Pillow, which is not installed: "
                          "pip install 'xlaflow[images]'") from error
    return Image


def _check_image_size(image_size):
    if not (isinstance(image_size, (list, tuple)) and len(image_size) == 2 and all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
            for s in image_size)):
        raise ValueError(f"{_CALLER}: `image_size` must be (height, width), two positive "
                         f"integers, received image_size={image_size!r}")
    return int(image_size[0]), int(image_size[1])


# Pillow's modes for a 16-bit grayscale PNG ("I" in older Pillow, "I;16" in newer)
_SIXTEEN_BIT_GREY = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def _as_tf_decodes(image, image_module):
    """`image` in a mode whose Pillow conversions give what TF's decoders give.

    A 16-bit grayscale PNG keeps its high byte (TF asks libpng for 8 bits, which strips the
    low ones) and its tRNS value becomes alpha; Pillow's own I;16 conversion clips at 255.
    A palette image with per-entry alpha goes through RGBA, as Pillow asks (it warns on
    converting one to RGB or L directly); its colours are the same either way."""
    if image.mode in _SIXTEEN_BIT_GREY:
        values = np.asarray(image).astype(np.int64)
        grey = (values >> 8).astype(np.uint8)
        transparent = image.info.get("transparency")
        if isinstance(transparent, int):
            alpha = np.where(values == transparent, 0, 255).astype(np.uint8)
            return image_module.fromarray(np.stack([grey, alpha], axis=-1))  # LA
        return image_module.fromarray(grey)  # L
    if image.mode == "P" and isinstance(image.info.get("transparency"), bytes):
        return image.convert("RGBA")
    return image


def _loader(image_module, pil_mode, channels, image_size, interpolation, crop):
    def load(path):
        path = str(path)
        try:
            with image_module.open(path) as image:  # a GIF's first frame, as TF's
                pixels = np.asarray(_as_tf_decodes(image, image_module).convert(pil_mode))
        except (OSError, ValueError, SyntaxError) as error:  # Pillow's decode failures
            raise ValueError(f"{_CALLER}: cannot decode the image file {path!r}: "
                             f"{error}") from error
        pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], channels)
        if crop:
            window = crop_to_aspect_ratio(pixels, image_size)
            if not window.size:
                raise ValueError(f"{_CALLER}: the image {path!r} of size {pixels.shape[:2]} "
                                 f"has no pixels left once cropped to the aspect ratio of "
                                 f"image_size={image_size}")
            pixels = window
        return resize(pixels, image_size, interpolation)
    return load


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False, **kwargs):
    """A Dataset of `(images, labels)` batches from `directory` (Keras 2.11's function).

    labels="inferred": each subdirectory is a class (sorted names, or `class_names`' order),
    its .bmp/.gif/.jpeg/.jpg/.png files at any depth the examples; a list gives one integer
    label per file in sorted path order; None yields images only. label_mode: "int"
    (int32), "categorical" (one-hot float32), "binary" (float32 (batch, 1), two classes)
    or None. Images are float32 (batch, *image_size, channels) with values in [0, 255],
    resized as tf.image.resize(method=interpolation) -- float32 for "nearest" too, where
    Keras 2 passed uint8 on (its documented float32 is what this gives). With
    `crop_to_aspect_ratio`, the centred window of the target's aspect ratio is resized.

    The file list is shuffled with `seed` (drawn when None), then split: the last
    int(validation_split * n) files are the validation subset. subset="both" returns
    [training, validation]. Each dataset has `class_names` and `file_paths`.
    """
    if "smart_resize" in kwargs:  # Keras 2's older name
        crop_to_aspect_ratio = kwargs.pop("smart_resize")
    if kwargs:
        raise TypeError(f"{_CALLER}: unexpected keyword arguments {sorted(kwargs)}")
    labels, label_mode, batch_size, seed = index.check_common(
        _CALLER, directory, labels, label_mode, class_names, batch_size, shuffle, seed,
        validation_split, subset, follow_links)
    if color_mode not in _COLOR_MODES:
        raise ValueError(f'{_CALLER}: `color_mode` must be one of "rgb", "rgba" or '
                         f'"grayscale", received color_mode={color_mode!r}')
    image_size = _check_image_size(image_size)
    method = interpolation.lower() if isinstance(interpolation, str) else interpolation
    if method not in INTERPOLATIONS:
        raise ValueError(f"{_CALLER}: `interpolation` must be one of {list(INTERPOLATIONS)}, "
                         f"received interpolation={interpolation!r}")
    crop = index.check_flag(_CALLER, "crop_to_aspect_ratio", crop_to_aspect_ratio)
    image_module = pillow_image_module(_CALLER)

    paths, labels, class_names = index.index_directory(
        _CALLER, directory, labels, ALLOWLIST_FORMATS, class_names, bool(shuffle), seed,
        follow_links, label_mode)
    pil_mode, channels = _COLOR_MODES[color_mode]
    load = _loader(image_module, pil_mode, channels, image_size, method, crop)

    return index.build(_CALLER, "images", ALLOWLIST_FORMATS, directory, paths, labels, class_names,
                       label_mode, validation_split, subset, batch_size, bool(shuffle), seed,
                       load)
