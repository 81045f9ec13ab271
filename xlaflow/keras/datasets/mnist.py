"""xf.keras.datasets.mnist."""

from xlaflow.datasets.mnist import load_data  # noqa: F401
