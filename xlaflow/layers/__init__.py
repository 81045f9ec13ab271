"""Keras layers (exposed as xf.keras.layers)."""

from xlaflow.layers.base import Layer as Layer
from xlaflow.layers.core import Activation as Activation
from xlaflow.layers.core import Dense as Dense
from xlaflow.layers.core import Dropout as Dropout
from xlaflow.layers.core import Flatten as Flatten
from xlaflow.layers.core import Input as Input
from xlaflow.layers.core import InputLayer as InputLayer
from xlaflow.layers.core import Reshape as Reshape

