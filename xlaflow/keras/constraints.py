"""xf.keras.constraints."""

from xlaflow.constraints import (  # noqa: F401
    Constraint,
    MaxNorm,
    MinMaxNorm,
    NonNeg,
    RadialConstraint,
    UnitNorm,
    deserialize,
    get,
    max_norm,
    maxnorm,
    min_max_norm,
    non_neg,
    nonneg,
    radial_constraint,
    serialize,
    unit_norm,
    unitnorm,
)
