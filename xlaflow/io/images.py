"""TF's tf.io.decode_image / decode_jpeg / decode_png on the host, with Pillow.

TF's decoders are TF ops with no XLA form; images are decoded where TFRecord bytes are
parsed, in Python (a Dataset.map), and come out as uint8 [height, width, channels].
"""

from __future__ import annotations

import io

import numpy as np

from xlaflow.errors import InvalidArgumentError

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def _decode(contents, channels, what, formats):
    from xlaflow.data.host_tensor import HostTensor
    from xlaflow.io.parsing import _serialized
    try:
        from PIL import Image
    except ImportError as e:  # the [images] extra
        raise ImportError(f"{what} decodes images with Pillow, which is not installed: "
                          "pip install 'xlaflow[images]'") from e
    if channels not in (0, 1, 3, 4):
        raise ValueError(f"{what}: `channels` must be 0 (as stored), 1, 3 or 4; received "
                         f"{channels!r}")
    data = _serialized(contents, what)
    try:
        image = Image.open(io.BytesIO(data), formats=formats)
        image.load()
    except Exception as e:  # noqa: BLE001  (Pillow's errors, re-raised as TF's)
        raise InvalidArgumentError(None, None, f"{what}: `contents` is not a decodable "
                                   f"{'/'.join(formats or ('image',))} image: {e}") from None
    if channels:
        image = image.convert(_MODES[channels])
    elif image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return array.view(HostTensor)


def decode_jpeg(contents, channels=0, ratio=1, fancy_upscaling=True,
                try_recover_truncated=False, acceptable_fraction=1, dct_method="",
                name=None):
    """TF's `tf.io.decode_jpeg`: a JPEG's pixels as uint8 [height, width, channels]."""
    if ratio != 1:
        raise NotImplementedError("decode_jpeg: `ratio` (downscaled decoding) is not "
                                  "provided; decode, then xf.image.resize")
    return _decode(contents, channels, "decode_jpeg", ("JPEG",))


def decode_png(contents, channels=0, dtype=np.uint8, name=None):
    """TF's `tf.io.decode_png` (8-bit): a PNG's pixels as uint8 [height, width, channels]."""
    if np.dtype(dtype) != np.uint8:
        raise NotImplementedError("decode_png: only dtype=uint8 is provided")
    return _decode(contents, channels, "decode_png", ("PNG",))


def decode_image(contents, channels=None, dtype=np.uint8, name=None,
                 expand_animations=True):
    """TF's `tf.io.decode_image` for still BMP/GIF/JPEG/PNG images (the first frame)."""
    if np.dtype(dtype) != np.uint8:
        raise NotImplementedError("decode_image: only dtype=uint8 is provided; cast after "
                                  "decoding (xf.image.convert_image_dtype)")
    return _decode(contents, channels or 0, "decode_image", ("BMP", "GIF", "JPEG", "PNG"))
