"""xf.keras.optimizers.experimental: TF 2.9-2.10's import path for the new optimizers.

The names are the same classes as xf.keras.optimizers (TF 2.11 made these the default),
so `tf.keras.optimizers.experimental.AdamW` ports unchanged.
"""

from xlaflow.optimizers import (  # noqa: F401
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Ftrl,
    Nadam,
    Optimizer,
    RMSprop,
)
