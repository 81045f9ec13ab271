"""Keras losses: functions (per-example values) and Loss objects (reduced, weighted)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import _eager_pairs, backend_config
from xlaflow._host_arrays import on_device
from xlaflow.nn_ops import sigmoid_cross_entropy
from xlaflow.training import output_masks


def as_prediction(y_pred):
    """`y_pred` as a floating array: Keras' documented examples pass Python lists, and
    integer predictions are computed in floatx (float32), not wrapped in integers."""
    y_pred = jnp.asarray(y_pred)
    return y_pred if jnp.issubdtype(y_pred.dtype, jnp.inexact) else y_pred.astype(jnp.float32)


def _probabilities(y_pred, from_logits, axis):
    y_pred = as_prediction(y_pred)
    if from_logits:
        return jax.nn.log_softmax(y_pred, axis=axis)
    y_pred = y_pred / jnp.sum(y_pred, axis=axis, keepdims=True)
    eps = backend_config.epsilon()  # Keras clips probabilities away from 0 and 1 by this
    return jnp.log(jnp.clip(y_pred, eps, 1.0 - eps))


def align_ranks(y_true, y_pred):
    """Labels of rank n-1 against predictions of rank n with a last axis of 1 (or the other
    way round) line up, as Keras squeezes or expands them, instead of broadcasting to an
    (n, n) matrix."""
    return squeeze_ranks(jnp.asarray(y_true), as_prediction(y_pred))


def squeeze_ranks(y_true, y_pred):
    """Keras 2's squeeze_or_expand_dimensions: a last axis of 1 on the one of rank n goes
    when the other has rank n-1 (no casts: a user's loss function sees its own dtypes)."""
    true_ndim, pred_ndim = jnp.ndim(y_true), jnp.ndim(y_pred)
    if true_ndim == pred_ndim - 1 and jnp.shape(y_pred)[-1] == 1:
        y_pred = jnp.squeeze(y_pred, -1)
    elif pred_ndim == true_ndim - 1 and jnp.shape(y_true)[-1] == 1:
        y_true = jnp.squeeze(y_true, -1)
    return y_true, y_pred


def align_weight(weight, ndim):
    """A sample weight shaped to broadcast over values of rank `ndim`: trailing size-1 axes
    dropped (a (n, 1) weight for per-example values of shape (n,)), then axes added."""
    while weight.ndim > ndim and weight.shape[-1] == 1:
        weight = jnp.squeeze(weight, -1)
    return jnp.reshape(weight, weight.shape + (1,) * (ndim - weight.ndim))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """-log p[label] per example; `y_true` holds integer class indices."""
    log_p = _probabilities(y_pred, from_logits, axis)
    labels = jnp.asarray(y_true).astype(jnp.int32)
    if labels.ndim == log_p.ndim:  # (batch, 1) labels, as Keras accepts
        labels = jnp.squeeze(labels, axis)
    picked = jnp.take_along_axis(log_p, jnp.expand_dims(labels, axis), axis=axis)
    # a label outside [0, classes) is NaN, as TF's kernel on GPU (its CPU one raises);
    # take_along_axis would wrap a negative label to a class from the end
    valid = (labels >= 0) & (labels < log_p.shape[axis])
    return jnp.where(valid, -jnp.squeeze(picked, axis), jnp.nan)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0,
                             axis=-1):
    """-sum(y_true * log p) per example; `y_true` is one-hot (or soft) labels."""
    y_pred = as_prediction(y_pred)
    y_true = jnp.asarray(y_true, y_pred.dtype)
    if label_smoothing:
        classes = y_true.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    return -jnp.sum(y_true * _probabilities(y_pred, from_logits, axis), axis=axis)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Mean over the last axis of the elementwise binary cross-entropy."""
    y_true, y_pred = align_ranks(y_true, y_pred)
    y_true = y_true.astype(y_pred.dtype)
    if y_pred.ndim == 1:  # one value per example
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        values = sigmoid_cross_entropy(y_true, y_pred)
    else:
        eps = backend_config.epsilon()
        p = jnp.clip(y_pred, eps, 1.0 - eps)
        values = -(y_true * jnp.log(p) + (1.0 - y_true) * jnp.log(1.0 - p))
    return jnp.mean(values, axis=axis)


def _error(y_true, y_pred):
    y_true, y_pred = align_ranks(y_true, y_pred)
    error = y_pred - y_true.astype(y_pred.dtype)
    return error if error.ndim > 1 else error[:, None]  # per example, over its last axis


def mean_squared_error(y_true, y_pred):
    return jnp.mean(jnp.square(_error(y_true, y_pred)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    return jnp.mean(jnp.abs(_error(y_true, y_pred)), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    error = _error(y_true, y_pred)
    small = jnp.abs(error) <= delta
    values = jnp.where(small, 0.5 * jnp.square(error), delta * (jnp.abs(error) - 0.5 * delta))
    return jnp.mean(values, axis=-1)


class Reduction:
    """tf.keras.losses.Reduction (Keras 2): the names a Loss accepts as `reduction=`.

    AUTO is Keras 2's default and means SUM_OVER_BATCH_SIZE outside a strategy, as here."""

    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls):
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)

    @classmethod
    def validate(cls, key):
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key: {key!r}; expected one of {cls.all()}")


class Loss:
    """A loss function with its options, reduced over the batch ('sum_over_batch_size':
    the weighted sum divided by the number of values; 'sum'; or 'none').

    A prediction that carries a Keras mask (a model output after Embedding(mask_zero=True)
    or Masking) weighs each step by it, as tf.keras 2.12+ does in Loss.__call__: masked
    steps count nothing, and 'sum_over_batch_size' divides by the kept steps only."""

    fn = None

    def __init__(self, reduction="sum_over_batch_size", name=None, **options):
        if reduction == Reduction.AUTO:  # Keras 2's default spelling of the same rule
            reduction = Reduction.SUM_OVER_BATCH_SIZE
        if reduction not in ("sum_over_batch_size", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'sum_over_batch_size',"
                             f" 'sum', 'none' or 'auto'; received {reduction!r}")
        self.reduction = reduction
        self.name = name or _snake(type(self).__name__)
        self.options = options

    def call(self, y_true, y_pred):
        return _eager_pairs.apply(type(self).fn, self.options, on_device(y_true),
                                  on_device(y_pred))

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self.call(y_true, y_pred)
        # the mask is read from y_pred itself: `call` returns new arrays, which carry none
        sample_weight = output_masks.valid_mask_weight(values, y_pred, sample_weight,
                                                       self.reduction)
        if sample_weight is not None:
            values = values * align_weight(jnp.asarray(sample_weight, values.dtype),
                                           values.ndim)
        if self.reduction == "none":
            return values
        total = jnp.sum(values)
        return total if self.reduction == "sum" else total / max(values.size, 1)

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name, **self.options}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _FunctionLoss(Loss):
    """A user's `(y_true, y_pred) -> values` function as a Loss. As Keras 2's
    LossFunctionWrapper, (n,) labels against (n, 1) predictions reach the function as one
    rank, so `y_true * y_pred` does not broadcast to an (n, n) matrix."""

    def __init__(self, function):
        super().__init__(name=getattr(function, "__name__", "loss"))
        self.function = function

    def call(self, y_true, y_pred):
        return self.function(*squeeze_ranks(y_true, y_pred))


def _snake(name):
    import re
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class SparseCategoricalCrossentropy(Loss):
    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits)


class CategoricalCrossentropy(Loss):
    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class BinaryCrossentropy(Loss):
    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)


class Huber(Loss):
    fn = staticmethod(huber)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, delta=delta)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
}
_FUNCTIONS = {sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
              categorical_crossentropy: CategoricalCrossentropy,
              binary_crossentropy: BinaryCrossentropy, mean_squared_error: MeanSquaredError,
              mean_absolute_error: MeanAbsoluteError, huber: Huber}


def get(identifier):
    """A Loss object from a name, a Loss, one of this module's functions, or any callable
    `(y_true, y_pred) -> per-example values`."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_CLASS_NAME.get(identifier)  # Keras takes both
        if cls is None:
            return _user_loss(identifier)
        return cls()
    if isinstance(identifier, dict):  # before the _FUNCTIONS lookup: a dict is unhashable
        return deserialize(identifier)
    if identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if callable(identifier):
        return _FunctionLoss(identifier)
    raise ValueError(f"Unknown loss {identifier!r}")


_BY_CLASS_NAME = {cls.__name__: cls for cls in _BY_NAME.values()}


def _user_loss(name):
    """The loss a user registered (@keras.utils.register_keras_serializable) or passed in
    custom_objects under `name`: a Loss class made with its defaults, or a function."""
    from xlaflow.saving.serialization import get_registered_object
    found = get_registered_object(name, module="user")
    if isinstance(found, type) and issubclass(found, Loss):
        return found()
    if found is not None and not isinstance(found, type) and callable(found):
        return _FunctionLoss(found)
    raise ValueError(f"Unknown loss {name!r}; expected one of {sorted(_BY_NAME)}, a class "
                     "name such as 'BinaryCrossentropy', a Loss, a callable, or the name of "
                     "a loss registered with @keras.utils.register_keras_serializable or "
                     "passed in custom_objects")


def serialize(loss):
    """`{"class_name": <Keras class name>, "config": get_config()}` of a built-in Loss (or of
    the Loss that `get` makes from a built-in name or function)."""
    if isinstance(loss, str) or (callable(loss) and loss in _FUNCTIONS):
        loss = get(loss)
    if type(loss) not in _BY_CLASS_NAME.values():
        # A wrapped user function (get(fn)) or a subclass: its code is not in the config.
        fn = loss.function if isinstance(loss, _FunctionLoss) else loss
        raise ValueError(f"loss {fn!r} is not a built-in Loss and cannot be serialized; "
                         f"expected one of {sorted(_BY_CLASS_NAME)}")
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config):
    """The Loss of a `serialize` dict (class_name may also be a name `get` accepts)."""
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = _BY_CLASS_NAME.get(name) or _BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"Unknown loss in config: {config!r}; expected class_name one of "
                         f"{sorted(_BY_CLASS_NAME)}")
    return cls.from_config(config.get("config", {}))


# Keras 2's other losses live in losses_extra, which registers them in the tables above.
from xlaflow import losses_extra  # noqa: F401
