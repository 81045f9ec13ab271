"""xf.keras.optimizers (Keras' update rules in JAX), with Keras' learning-rate `schedules`
and the `legacy` / `experimental` import paths of TF 2.9-2.11+ (aliases of these classes)."""

from xlaflow.keras.optimizers import experimental, legacy, schedules  # noqa: F401
from xlaflow.optimizers import (  # noqa: F401
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Ftrl,
    Lion,
    Nadam,
    Optimizer,
    RMSprop,
    deserialize,
    get,
    serialize,
)
