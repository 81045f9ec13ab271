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

# Reshaping, 1-D/global pooling, activation, noise, preprocessing and merging layers, and
# Keras' functional merge helpers.
# isort: split
from xlaflow.layers.activation_layers import ELU as ELU
from xlaflow.layers.activation_layers import LeakyReLU as LeakyReLU
from xlaflow.layers.activation_layers import PReLU as PReLU
from xlaflow.layers.activation_layers import ReLU as ReLU
from xlaflow.layers.activation_layers import Softmax as Softmax
from xlaflow.layers.merging import Average as Average
from xlaflow.layers.merging import Maximum as Maximum
from xlaflow.layers.merging import Minimum as Minimum
from xlaflow.layers.merging import Multiply as Multiply
from xlaflow.layers.merging import Subtract as Subtract
from xlaflow.layers.merging import add as add
from xlaflow.layers.merging import average as average
from xlaflow.layers.merging import concatenate as concatenate
from xlaflow.layers.merging import maximum as maximum
from xlaflow.layers.merging import minimum as minimum
from xlaflow.layers.merging import multiply as multiply
from xlaflow.layers.merging import subtract as subtract
from xlaflow.layers.noise import GaussianDropout as GaussianDropout
from xlaflow.layers.noise import GaussianNoise as GaussianNoise
from xlaflow.layers.noise import SpatialDropout1D as SpatialDropout1D
from xlaflow.layers.noise import SpatialDropout2D as SpatialDropout2D
from xlaflow.layers.pooling import AveragePooling1D as AveragePooling1D
from xlaflow.layers.pooling import GlobalAveragePooling1D as GlobalAveragePooling1D
from xlaflow.layers.pooling import GlobalMaxPooling1D as GlobalMaxPooling1D
from xlaflow.layers.pooling import GlobalMaxPooling2D as GlobalMaxPooling2D
from xlaflow.layers.pooling import MaxPooling1D as MaxPooling1D
from xlaflow.layers.preprocessing import Rescaling as Rescaling
from xlaflow.layers.reshaping import Cropping1D as Cropping1D
from xlaflow.layers.reshaping import Cropping2D as Cropping2D
from xlaflow.layers.reshaping import Permute as Permute
from xlaflow.layers.reshaping import RepeatVector as RepeatVector
from xlaflow.layers.reshaping import UpSampling1D as UpSampling1D
from xlaflow.layers.reshaping import UpSampling2D as UpSampling2D
from xlaflow.layers.reshaping import ZeroPadding1D as ZeroPadding1D
from xlaflow.layers.reshaping import ZeroPadding2D as ZeroPadding2D

# isort: split
# Convolution and recurrent additions (conv_transpose, separable, wrappers, SimpleRNN,
# Masking)
from xlaflow.layers.conv import Conv3D as Conv3D
from xlaflow.layers.conv_lstm import ConvLSTM1D as ConvLSTM1D
from xlaflow.layers.conv_lstm import ConvLSTM2D as ConvLSTM2D
from xlaflow.layers.conv_lstm import ConvLSTM3D as ConvLSTM3D
from xlaflow.layers.conv_transpose import Conv1DTranspose as Conv1DTranspose
from xlaflow.layers.conv_transpose import Conv2DTranspose as Conv2DTranspose
from xlaflow.layers.masking import Masking as Masking
from xlaflow.layers.recurrent import SimpleRNN as SimpleRNN
from xlaflow.layers.rnn import RNN as RNN
from xlaflow.layers.rnn_cells import GRUCell as GRUCell
from xlaflow.layers.rnn_cells import LSTMCell as LSTMCell
from xlaflow.layers.rnn_cells import SimpleRNNCell as SimpleRNNCell
from xlaflow.layers.separable import DepthwiseConv2D as DepthwiseConv2D
from xlaflow.layers.separable import SeparableConv2D as SeparableConv2D
from xlaflow.layers.stacked_cells import StackedRNNCells as StackedRNNCells
from xlaflow.layers.wrappers import Bidirectional as Bidirectional
from xlaflow.layers.wrappers import TimeDistributed as TimeDistributed

# isort: split
# Image augmentation (Keras 2's preprocessing layers)
from xlaflow.layers.augmentation import RandomFlip as RandomFlip
from xlaflow.layers.augmentation import RandomRotation as RandomRotation
from xlaflow.layers.augmentation import RandomTranslation as RandomTranslation
from xlaflow.layers.augmentation import RandomZoom as RandomZoom
from xlaflow.layers.augmentation_color import RandomBrightness as RandomBrightness
from xlaflow.layers.augmentation_color import RandomContrast as RandomContrast
from xlaflow.layers.categorical import CategoryEncoding as CategoryEncoding
from xlaflow.layers.categorical import Discretization as Discretization
from xlaflow.layers.hashing import Hashing as Hashing
from xlaflow.layers.image_crop import CenterCrop as CenterCrop
from xlaflow.layers.image_crop import RandomCrop as RandomCrop
from xlaflow.layers.integer_lookup import IntegerLookup as IntegerLookup
from xlaflow.layers.normalization_adapt import Normalization as Normalization
from xlaflow.layers.preprocessing import Resizing as Resizing
from xlaflow.layers.string_lookup import StringLookup as StringLookup
from xlaflow.layers.text_vectorization import TextVectorization as TextVectorization

# isort: split
# Keras 2's dense attention, Dot, AlphaDropout and UnitNormalization
from xlaflow.layers.dense_attention import AdditiveAttention as AdditiveAttention
from xlaflow.layers.dense_attention import Attention as Attention
from xlaflow.layers.dot_merge import Dot as Dot
from xlaflow.layers.dot_merge import dot as dot
from xlaflow.layers.noise import AlphaDropout as AlphaDropout
from xlaflow.layers.unit_normalization import UnitNormalization as UnitNormalization
