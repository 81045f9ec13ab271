"""xf.keras.backend: session-level helpers."""

from xlaflow.layers.base import clear_session  # noqa: F401
