"""xf.keras.activations."""

from xlaflow.activations import *  # noqa: F401,F403
from xlaflow.activations import get  # noqa: F401
