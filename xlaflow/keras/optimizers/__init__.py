"""xf.keras.optimizers (on optax), with Keras' learning-rate `schedules`."""

from xlaflow.keras.optimizers import schedules  # noqa: F401
from xlaflow.optimizers import (  # noqa: F401
    SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, deserialize, get, serialize)
