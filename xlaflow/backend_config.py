"""Keras' global backend settings: the fuzz factor epsilon, the default float type floatx
and the image data format. Losses read epsilon when they run; layers read floatx (through
the default dtype policy) when they are created.
"""

from __future__ import annotations

import jax

_epsilon = 1e-7
_floatx = "float32"
_FLOATS = ("float16", "bfloat16", "float32", "float64")


def epsilon():
    """The fuzz factor Keras adds to avoid division by zero and log(0) (default 1e-7)."""
    return _epsilon


def set_epsilon(value):
    global _epsilon
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"set_epsilon: value must be a positive number; received {value!r}")
    _epsilon = float(value)


def floatx():
    """The default float type, as a string: the dtype of layers created with no dtype
    and no global mixed-precision policy."""
    return _floatx


def set_floatx(value):
    """Set floatx; 'float64' needs jax_enable_x64 (JAX is 32-bit otherwise)."""
    global _floatx
    if value not in _FLOATS:
        raise ValueError(f"set_floatx: value must be one of {_FLOATS}; received {value!r}")
    if value == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("set_floatx('float64') needs 64-bit JAX: set "
                         "jax.config.update('jax_enable_x64', True) first")
    _floatx = value


_image_data_format = "channels_last"


def image_data_format():
    """The default of the spatial layers' data_format: 'channels_last' unless
    set_image_data_format changed it (a layer given data_format takes that instead)."""
    return _image_data_format


def set_image_data_format(data_format):
    """Keras' global default layout of the convolution, pooling, padding, cropping,
    upsampling and Flatten layers made after it; keras.applications' models are built
    channels-last and refuse to build under 'channels_first'."""
    global _image_data_format
    if data_format in ("channels_last", "channels_first"):
        _image_data_format = data_format
        return
    raise ValueError(f"set_image_data_format: data_format must be 'channels_last' or "
                     f"'channels_first'; received {data_format!r}")
