"""xf.keras.metrics."""

from xlaflow.metrics import (  # noqa: F401
    AUC,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    Mean,
    MeanAbsoluteError,
    MeanMetricWrapper,
    MeanSquaredError,
    Metric,
    Precision,
    Recall,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
    binary_accuracy,
    categorical_accuracy,
    deserialize,
    get,
    serialize,
    sparse_categorical_accuracy,
)
