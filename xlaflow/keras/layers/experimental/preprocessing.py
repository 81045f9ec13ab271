"""xf.keras.layers.experimental.preprocessing: the preprocessing layers under their old
(TF 2.3-2.5) import path; the same classes as xf.keras.layers."""

from xlaflow.layers import (  # noqa: F401
    CategoryEncoding,
    CenterCrop,
    Discretization,
    Hashing,
    IntegerLookup,
    Normalization,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
    StringLookup,
    TextVectorization,
)
from xlaflow.layers.augmentation import RandomHeight, RandomWidth  # noqa: F401
