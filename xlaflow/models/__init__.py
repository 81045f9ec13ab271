"""Keras models (exposed as xf.keras.models)."""

from xlaflow.models.model import Model as Model
from xlaflow.models.sequential import Sequential as Sequential
