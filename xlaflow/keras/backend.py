"""xf.keras.backend: session-level helpers and Keras 2's get_value/set_value."""

import numpy as np

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
