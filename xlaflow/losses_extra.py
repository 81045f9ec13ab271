"""The rest of Keras 2's losses: KL divergence, cosine similarity, the hinge family,
Poisson, log-cosh and the logarithmic and percentage errors (Keras 2's formulas, with
backend.epsilon() read when the loss runs), registered with keras.losses.get.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import backend_config
from xlaflow import losses as base
from xlaflow.math_extra import l2_normalize


def _pair(y_true, y_pred, per_value=True):
    """Aligned float arrays with the values of one example along the last axis. A rank-1
    pair counts one value per example (as the losses module's errors do) for the losses
    that average; those that sum over the axis (`per_value=False`) take it as one example,
    as Keras 2 does."""
    y_true, y_pred = base.align_ranks(y_true, y_pred)
    y_true = y_true.astype(y_pred.dtype)
    if per_value and y_pred.ndim <= 1:
        y_true, y_pred = jnp.reshape(y_true, (-1, 1)), jnp.reshape(y_pred, (-1, 1))
    return y_true, y_pred


def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [eps, 1]."""
    y_true, y_pred = _pair(y_true, y_pred, per_value=False)
    eps = backend_config.epsilon()
    y_true, y_pred = jnp.clip(y_true, eps, 1.0), jnp.clip(y_pred, eps, 1.0)
    return jnp.sum(y_true * jnp.log(y_true / y_pred), axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """The negative cosine of the angle between y_true and y_pred along `axis` (a loss to
    minimize: -1 for the same direction)."""
    y_true, y_pred = _pair(y_true, y_pred, per_value=False)
    return -jnp.sum(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis), axis=axis)


def _signed_labels(y_true):
    """Keras' hinge labels: 0/1 labels become -1/+1; other labels are used as given."""
    binary = jnp.all((y_true == 0) | (y_true == 1))
    return jnp.where(binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return jnp.mean(jnp.maximum(1.0 - _signed_labels(y_true) * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    margin = jnp.maximum(1.0 - _signed_labels(y_true) * y_pred, 0.0)
    return jnp.mean(jnp.square(margin), axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(0, 1 + max over wrong classes of y_pred - the true class's y_pred)."""
    y_true, y_pred = _pair(y_true, y_pred, per_value=False)
    positive = jnp.sum(y_true * y_pred, axis=-1)
    negative = jnp.max((1.0 - y_true) * y_pred, axis=-1)
    return jnp.maximum(negative - positive + 1.0, 0.0)


def poisson(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    eps = backend_config.epsilon()
    return jnp.mean(y_pred - y_true * jnp.log(y_pred + eps), axis=-1)


def log_cosh(y_true, y_pred):
    """mean(log(cosh(error))), computed as x + softplus(-2x) - log 2 so large errors do
    not overflow cosh."""
    y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true
    return jnp.mean(x + jax.nn.softplus(-2.0 * x) - jnp.log(2.0).astype(x.dtype), axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    eps = backend_config.epsilon()
    first = jnp.log(jnp.maximum(y_pred, eps) + 1.0)
    second = jnp.log(jnp.maximum(y_true, eps) + 1.0)
    return jnp.mean(jnp.square(first - second), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    eps = backend_config.epsilon()
    diff = jnp.abs((y_true - y_pred) / jnp.maximum(jnp.abs(y_true), eps))
    return 100.0 * jnp.mean(diff, axis=-1)


def _loss_class(name, fn):
    return type(name, (base.Loss,), {"fn": staticmethod(fn), "__module__": __name__,
                                     "__doc__": f"Keras' {name}: {fn.__name__} per example, "
                                                "reduced over the batch."})


KLDivergence = _loss_class("KLDivergence", kl_divergence)
Hinge = _loss_class("Hinge", hinge)
SquaredHinge = _loss_class("SquaredHinge", squared_hinge)
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge)
Poisson = _loss_class("Poisson", poisson)
LogCosh = _loss_class("LogCosh", log_cosh)
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError",
                                          mean_squared_logarithmic_error)
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError",
                                          mean_absolute_percentage_error)


class CosineSimilarity(base.Loss):
    """Keras' CosineSimilarity loss: the negative cosine along `axis`, reduced."""

    fn = staticmethod(cosine_similarity)

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, axis=axis)


_NAMES = {
    KLDivergence: ("kl_divergence", "kld", "KLD", "kullback_leibler_divergence"),
    CosineSimilarity: ("cosine_similarity",),
    Hinge: ("hinge",), SquaredHinge: ("squared_hinge",),
    CategoricalHinge: ("categorical_hinge",), Poisson: ("poisson",),
    LogCosh: ("log_cosh", "logcosh"),
    MeanSquaredLogarithmicError: ("mean_squared_logarithmic_error", "msle", "MSLE"),
    MeanAbsolutePercentageError: ("mean_absolute_percentage_error", "mape", "MAPE"),
}
for _cls, _aliases in _NAMES.items():
    base._BY_CLASS_NAME[_cls.__name__] = _cls
    base._FUNCTIONS[_cls.fn] = _cls
    for _alias in _aliases:
        base._BY_NAME[_alias] = _cls
