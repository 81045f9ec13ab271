"""xf.keras.layers."""

from xlaflow.layers import (  # noqa: F401
    GRU, LSTM, Activation, Add, AveragePooling2D, BatchNormalization, Concatenate, Conv1D,
    Conv2D, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling2D, Input, InputLayer, Lambda,
    Layer, LayerNormalization, MaxPooling2D, MultiHeadAttention, Operator, Reshape)
