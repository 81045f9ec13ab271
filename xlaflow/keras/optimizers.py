"""xf.keras.optimizers (on optax); `schedules` are optax's schedule functions."""

import optax.schedules as schedules  # noqa: F401

from xlaflow.optimizers import (  # noqa: F401
    SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, deserialize, get, serialize)
