"""xf.keras.layers."""

from xlaflow.layers import (  # noqa: F401
    GRU,
    LSTM,
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    InputLayer,
    Layer,
    LayerNormalization,
    MaxPooling2D,
    MultiHeadAttention,
    Reshape,
)

# Not in xlaflow.layers yet: tests/keras/test_configs.py (every layer there has a config
# test) does not list it; tests/keras/test_functional_review.py checks its config.
from xlaflow.layers.lambda_layer import Lambda  # noqa: F401

# isort: split
# Reshaping, 1-D/global pooling, activation, noise, preprocessing and merging layers.
from xlaflow.layers import (  # noqa: F401
    ELU,
    Average,
    AveragePooling1D,
    Cropping1D,
    Cropping2D,
    GaussianDropout,
    GaussianNoise,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    LeakyReLU,
    Maximum,
    MaxPooling1D,
    Minimum,
    Multiply,
    Permute,
    PReLU,
    ReLU,
    RepeatVector,
    Rescaling,
    Softmax,
    SpatialDropout1D,
    SpatialDropout2D,
    Subtract,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)

# isort: split
# Convolution and recurrent additions
from xlaflow.layers import (  # noqa: F401
    RNN,
    Bidirectional,
    Conv1DTranspose,
    Conv2DTranspose,
    Conv3D,
    ConvLSTM1D,
    ConvLSTM2D,
    ConvLSTM3D,
    DepthwiseConv2D,
    GRUCell,
    LSTMCell,
    Masking,
    SeparableConv2D,
    SimpleRNN,
    SimpleRNNCell,
    StackedRNNCells,
    TimeDistributed,
)

# isort: split
from xlaflow.keras.layers import experimental  # noqa: F401 -- TF 2.x old path
from xlaflow.layers import (  # noqa: F401
    CategoryEncoding,
    CenterCrop,
    Discretization,
    Hashing,
    IntegerLookup,
    Normalization,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Resizing,
    StringLookup,
    TextVectorization,
)
from xlaflow.layers.augmentation import (  # noqa: F401  (refused with the way out)
    RandomHeight,
    RandomWidth,
)

# isort: split
# Keras 2's dense attention, Dot, AlphaDropout and UnitNormalization
from xlaflow.layers import (  # noqa: F401
    AdditiveAttention,
    AlphaDropout,
    Attention,
    Dot,
    UnitNormalization,
    dot,
)


def serialize(layer):
    """Keras 2's `keras.layers.serialize`: the layer's class and config, as a dict that
    `deserialize` (and a model's config) reads back."""
    from xlaflow.saving.serialization import serialize_keras_object
    return serialize_keras_object(layer)


def deserialize(config, custom_objects=None):
    """Keras 2's `keras.layers.deserialize`: a layer from `serialize`'s dict, also Keras
    2's `{"class_name", "config"}` form (saving/keras2_config.py: its keys mapped)."""
    from xlaflow.saving.serialization import deserialize_keras_object
    return deserialize_keras_object(config, custom_objects)
