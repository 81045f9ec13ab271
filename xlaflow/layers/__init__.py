"""Keras layers (exposed as xf.keras.layers)."""

from xlaflow.layers.attention import MultiHeadAttention as MultiHeadAttention
from xlaflow.layers.base import Layer as Layer
from xlaflow.layers.conv import Conv1D as Conv1D
from xlaflow.layers.conv import Conv2D as Conv2D
from xlaflow.layers.core import Activation as Activation
from xlaflow.layers.core import Dense as Dense
from xlaflow.layers.core import Dropout as Dropout
from xlaflow.layers.core import Flatten as Flatten
from xlaflow.layers.core import InputLayer as InputLayer
from xlaflow.layers.core import Reshape as Reshape
from xlaflow.layers.embedding import Embedding as Embedding
from xlaflow.layers.merging import Add as Add
from xlaflow.layers.merging import Concatenate as Concatenate
from xlaflow.layers.normalization import BatchNormalization as BatchNormalization
from xlaflow.layers.normalization import LayerNormalization as LayerNormalization
from xlaflow.layers.pooling import AveragePooling2D as AveragePooling2D
from xlaflow.layers.pooling import GlobalAveragePooling2D as GlobalAveragePooling2D
from xlaflow.layers.pooling import MaxPooling2D as MaxPooling2D
from xlaflow.layers.recurrent import GRU as GRU
from xlaflow.layers.recurrent import LSTM as LSTM
from xlaflow.layers.symbolic import Input as Input
from xlaflow.layers.symbolic import SymbolicTensor as SymbolicTensor
