"""Checks for the counts tf.data methods take (batch sizes, buffer sizes, lengths): TF
refuses anything but an integer, and so do these, naming the method and the argument."""

from __future__ import annotations

import numpy as np


def integer_argument(value, what, name):
    """`value` as a Python int: ints, NumPy integers, integer 0-d arrays and eager tensors,
    and floats without a fraction (1e4). Anything else raises, naming `Dataset.<what>`'s
    argument: truncating `batch(len(x) / 10)` would change the batches in silence."""
    array = np.asarray(value) if not isinstance(value, str) else None
    if array is not None and array.shape == () and array.dtype.kind in "iub":
        return int(array)
    if array is not None and array.shape == () and array.dtype.kind == "f" and \
            float(array).is_integer():
        return int(array)
    raise TypeError(f"Dataset.{what}: {name} must be an integer; received {value!r}")


def positive_argument(value, what, name, default=None):
    """`value` as an int >= 1 (see integer_argument); with a `default`, None and AUTOTUNE
    (-1) give it."""
    if value is None and default is not None:
        return default
    value = integer_argument(value, what, name)
    if value == -1 and default is not None:  # tf.data.AUTOTUNE
        return default
    if value < 1:
        raise ValueError(f"Dataset.{what}: {name} must be >= 1"
                         f"{' or AUTOTUNE' if default is not None else ''}; received {value}")
    return value
