"""xf.keras.optimizers.schedules: Keras' learning-rate schedules (xlaflow/schedules.py)."""

from xlaflow.schedules import (  # noqa: F401
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    PolynomialDecay,
)
