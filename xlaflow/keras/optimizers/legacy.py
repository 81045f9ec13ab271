"""xf.keras.optimizers.legacy: TF 2.11+'s import path for the OptimizerV2 classes.

The names are the same classes as xf.keras.optimizers (one update rule each), so a program
written for `tf.keras.optimizers.legacy.Adam` ports unchanged; the OptimizerV2 subclassing
hooks (`_resource_apply_dense`, ...) stay refused by Optimizer with what to use instead;
OptimizerV2's `decay=` (inverse-time decay of the rate) is taken, by every class.
"""

from xlaflow.optimizers import (  # noqa: F401
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    Ftrl,
    Nadam,
    Optimizer,
    RMSprop,
)
