"""xf.keras.utils."""

import numpy as np

from xlaflow.keras.file_download import get_file  # noqa: F401 -- Keras 2 signature
from xlaflow.keras.preprocessing.audio_dataset import audio_dataset_from_directory  # noqa: F401
from xlaflow.keras.preprocessing.image_dataset import image_dataset_from_directory  # noqa: F401
from xlaflow.keras.preprocessing.sequence import pad_sequences  # noqa: F401
from xlaflow.keras.preprocessing.text_dataset import text_dataset_from_directory  # noqa: F401
from xlaflow.keras.preprocessing.timeseries import timeseries_dataset_from_array  # noqa: F401
from xlaflow.plotting import (  # noqa: F401 -- matplotlib/graphviz load on first call
    model_to_dot,
    plot_history,
    plot_model,
)
from xlaflow.random import set_seed

# tf.keras.utils' names for the serialization registry (TF 2.x spells the decorator
# register_keras_serializable; xf.keras.saving holds the same functions)
from xlaflow.saving.serialization import (  # noqa: F401
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    serialize_keras_object,
)
from xlaflow.saving.serialization import (  # noqa: F401 -- re-exported
    custom_object_scope as CustomObjectScope,
)
from xlaflow.saving.serialization import (  # noqa: F401 -- re-exported
    register_serializable as register_keras_serializable,
)
from xlaflow.training.sequence import Sequence  # noqa: F401


def set_random_seed(seed):
    """Seed Python's, NumPy's and xlaflow's random streams (Keras' set_random_seed)."""
    import random
    random.seed(seed)
    np.random.seed(seed)
    set_seed(seed)  # xf.random.set_seed: the global stream and xf.random's ops


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer labels (NumPy, as Keras): shape y.shape + (num_classes,), a
    trailing axis of 1 dropped first (labels (n, 1) give (n, num_classes))."""
    y = np.asarray(y, dtype="int64")
    shape = y.shape[:-1] if y.ndim > 1 and y.shape[-1] == 1 else y.shape
    y = y.reshape(-1)
    num_classes = int(num_classes if num_classes is not None else y.max() + 1)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}) for "
                         f"num_classes={num_classes}; received values from {y.min()} to "
                         f"{y.max()}")
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out.reshape(*shape, num_classes)
