"""xf.keras.optimizers.schedules: Keras' learning-rate schedules (xlaflow/schedules.py)."""

from xlaflow.schedules import (  # noqa: F401
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    PolynomialDecay,
)
from xlaflow.schedules import deserialize_schedule as deserialize  # noqa: F401
from xlaflow.schedules import serialize_schedule as serialize  # noqa: F401
