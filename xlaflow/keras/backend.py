"""xf.keras.backend: session-level helpers and settings (epsilon, floatx, image data
format), Keras 2's get_value/set_value/int_shape, and its math (`K.dot`, `K.sum`, ...)."""

import numpy as np

from xlaflow.backend_config import (  # noqa: F401
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from xlaflow.keras.backend_math import (  # noqa: F401
    abs,
    cast,
    clip,
    concatenate,
    dot,
    exp,
    expand_dims,
    l2_normalize,
    log,
    max,
    maximum,
    mean,
    min,
    minimum,
    ones_like,
    pow,
    reshape,
    shape,
    sigmoid,
    softmax,
    sqrt,
    square,
    stack,
    std,
    sum,
    tanh,
    transpose,
    zeros_like,
)
from xlaflow.keras.backend_random import random_normal, random_uniform  # noqa: F401
from xlaflow.layers.base import clear_session  # noqa: F401
from xlaflow.variables import Variable


def get_value(x):
    """The value of a Variable (or array) as a NumPy array, as Keras' backend.get_value."""
    if isinstance(x, Variable):
        return np.asarray(x.numpy())
    return np.asarray(x)


def set_value(x, value):
    """Assign `value` to the Variable `x` (`set_value(model.optimizer.learning_rate, 1e-3)`);
    a non-Variable, such as the rate of an optimizer that follows a schedule, is an error."""
    if not isinstance(x, Variable):
        raise TypeError(f"set_value needs an xf.Variable (such as optimizer.learning_rate with "
                        f"a float rate); received {type(x).__name__}. An optimizer created "
                        "with a learning-rate schedule has no rate to set")
    x.assign(np.asarray(value, dtype=np.dtype(x.dtype)))


def int_shape(x):
    """The shape of a tensor, Variable or Keras Input as a tuple (None for unknown sizes,
    such as an Input's batch)."""
    dims = getattr(x, "shape", None)
    if dims is None:
        raise TypeError(f"int_shape: expected a tensor, Variable or keras.Input; received "
                        f"{type(x).__name__}")
    return tuple(None if d is None else int(d) for d in dims)


def cast_to_floatx(x):
    """`x` as a NumPy array of dtype floatx()."""
    from xlaflow.tensors import as_dtype
    return np.asarray(x, dtype=as_dtype(floatx()))


def get_keras_mask(x):
    """The mask a layer attached to `x` (Keras 2's `x._keras_mask`, Keras 3's name), or
    None. A jax.Array takes no attributes, so eager masks live beside the array."""
    if hasattr(type(x), "_keras_mask"):  # a symbolic tensor of a functional graph
        return x._keras_mask
    from xlaflow.layers.keras_mask import get_mask
    return get_mask(x)


def set_keras_mask(x, mask):
    """Attach `mask` to the array `x` (Keras 3's name; Keras 2 sets `x._keras_mask`); None
    removes it, where Keras 2 code writes `del x._keras_mask`, which a jax.Array refuses."""
    if hasattr(type(x), "_keras_mask"):
        raise TypeError("set_keras_mask: a symbolic tensor's mask is the one its graph gives "
                        "it; set masks on the arrays a model computes")
    from xlaflow.layers.keras_mask import set_mask
    set_mask(x, mask)  # as given, as Keras 3

