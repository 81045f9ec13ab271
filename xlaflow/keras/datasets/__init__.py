"""xf.keras.datasets."""

from xlaflow.datasets import digits as digits
from xlaflow.keras.datasets import mnist as mnist
