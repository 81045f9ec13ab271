"""xf.keras.activations."""

from xlaflow.activations import *
from xlaflow.activations import get  # noqa: F401
