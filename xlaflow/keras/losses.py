"""xf.keras.losses."""

from xlaflow.losses import (  # noqa: F401
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    Reduction,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    deserialize,
    get,
    huber,
    mean_absolute_error,
    mean_squared_error,
    serialize,
    sparse_categorical_crossentropy,
)

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
from xlaflow.losses_extra import (  # noqa: F401
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCosh,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    Poisson,
    SquaredHinge,
    categorical_hinge,
    cosine_similarity,
    hinge,
    kl_divergence,
    log_cosh,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    poisson,
    squared_hinge,
)

kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
msle = MSLE = mean_squared_logarithmic_error
mape = MAPE = mean_absolute_percentage_error
