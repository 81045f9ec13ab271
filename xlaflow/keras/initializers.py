"""xf.keras.initializers."""

from xlaflow.initializers import (  # noqa: F401
    Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Initializer, LecunNormal,
    Ones, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling, Zeros, get)
