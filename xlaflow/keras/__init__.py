"""xf.keras: the tf.keras namespace on xlaflow (layers, models, losses, metrics, ...)."""

from xlaflow.keras import activations as activations
from xlaflow.keras import applications as applications
from xlaflow.keras import backend as backend
from xlaflow.keras import callbacks as callbacks
from xlaflow.keras import constraints as constraints
from xlaflow.keras import datasets as datasets
from xlaflow.keras import initializers as initializers
from xlaflow.keras import layers as layers
from xlaflow.keras import losses as losses
from xlaflow.keras import metrics as metrics
from xlaflow.keras import mixed_precision as mixed_precision
from xlaflow.keras import models as models
from xlaflow.keras import optimizers as optimizers
from xlaflow.keras import preprocessing as preprocessing
from xlaflow.keras import regularizers as regularizers
from xlaflow.keras import saving as saving
from xlaflow.keras import utils as utils
from xlaflow.layers import Input as Input
from xlaflow.models import Model as Model
from xlaflow.models import Sequential as Sequential


def __getattr__(name):
    # tf.keras modules a port may reach for that xlaflow lacks: an AttributeError still
    # (hasattr stays False), naming what to write instead
    if name in _NOT_PROVIDED:
        raise AttributeError(f"module 'xlaflow.keras' has no attribute {name!r}: "
                             f"keras.{name} is not provided; {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'xlaflow.keras' has no attribute {name!r}")


_NOT_PROVIDED = {}
