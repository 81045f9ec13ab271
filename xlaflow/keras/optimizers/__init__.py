"""xf.keras.optimizers (Keras' update rules in JAX), with Keras' learning-rate `schedules`."""

from xlaflow.keras.optimizers import schedules  # noqa: F401
from xlaflow.optimizers import (  # noqa: F401
    SGD,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Nadam,
    Optimizer,
    RMSprop,
    deserialize,
    get,
    serialize,
)
