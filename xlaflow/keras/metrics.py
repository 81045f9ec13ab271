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
    Sum,
    binary_accuracy,
    categorical_accuracy,
    deserialize,
    get,
    serialize,
    sparse_categorical_accuracy,
)
from xlaflow.metrics_confusion import (  # noqa: F401
    FalseNegatives,
    FalsePositives,
    TrueNegatives,
    TruePositives,
)
from xlaflow.metrics_extra import (  # noqa: F401
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SparseTopKCategoricalAccuracy,
    SquaredHinge,
    TopKCategoricalAccuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from xlaflow.metrics_fbeta import F1Score, FBetaScore  # noqa: F401
from xlaflow.metrics_iou import MeanIoU, OneHotMeanIoU  # noqa: F401
