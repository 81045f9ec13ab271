"""xf.keras.datasets."""

from xlaflow.keras.datasets import mnist as mnist
from xlaflow.datasets import digits as digits
