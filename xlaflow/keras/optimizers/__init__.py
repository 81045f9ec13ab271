"""xf.keras.optimizers (Keras' update rules in JAX), with Keras' learning-rate `schedules`
and the `legacy` / `experimental` import paths of TF 2.9-2.11+ (aliases of these classes)."""

from xlaflow.keras.optimizers import experimental, legacy, schedules  # noqa: F401
from xlaflow.optimizers import (  # noqa: F401
    SGD,
    Adadelta,
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

# Keras optimizers xlaflow does not have: still an AttributeError (hasattr stays False, as
# for xf.ragged), naming what to use instead
_NOT_PROVIDED = ("Adafactor",)


def __getattr__(name):
    if name in _NOT_PROVIDED:
        raise AttributeError(
            f"module 'xlaflow.keras.optimizers' has no attribute {name!r}: tf.keras.optimizers."
            f"{name} is not provided; use Adam, AdamW, Lion, RMSprop, Adagrad or SGD, or an "
            "Optimizer subclass (Keras 2.11's build/update_step form) with the update rule "
            "(optax.adafactor's to follow)")
    raise AttributeError(f"module 'xlaflow.keras.optimizers' has no attribute {name!r}")
