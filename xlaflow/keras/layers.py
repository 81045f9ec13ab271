"""xf.keras.layers."""

from xlaflow.layers import (  # noqa: F401
    Activation, Dense, Dropout, Flatten, Input, InputLayer, Layer, Reshape)
