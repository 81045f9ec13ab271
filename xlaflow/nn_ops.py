"""TF's tf.nn activations and cross-entropies with TF's argument names (`features`,
`labels=`, `logits=`), so tf.nn calls port unchanged; the math is jax.nn's."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from xlaflow import _eager_nn
from xlaflow.ops import _tensor


def relu(features, name=None):
    return _eager_nn.relu(_tensor(features))


def relu6(features, name=None):
    return _eager_nn.relu6(_tensor(features))


def leaky_relu(features, alpha=0.2, name=None):
    return jax.nn.leaky_relu(_tensor(features), alpha)


def elu(features, name=None):
    return jax.nn.elu(_tensor(features))


def selu(features, name=None):
    return jax.nn.selu(_tensor(features))


def gelu(features, approximate=False, name=None):
    return _eager_nn.gelu(_tensor(features), approximate=bool(approximate))


def silu(features, beta=1.0, name=None):
    """TF's silu/swish: features * sigmoid(beta * features)."""
    features = jnp.asarray(features)
    return features * jax.nn.sigmoid(beta * features)


swish = silu


def sigmoid(x, name=None):
    return jax.nn.sigmoid(_tensor(x))


def tanh(x, name=None):
    return jnp.tanh(_tensor(x))


def softplus(features, name=None):
    return jax.nn.softplus(_tensor(features))


def softsign(features, name=None):
    return jax.nn.soft_sign(_tensor(features))


def softmax(logits, axis=None, name=None):
    return _eager_nn.softmax(_tensor(logits), axis=-1 if axis is None else axis)


def log_softmax(logits, axis=None, name=None):
    return jax.nn.log_softmax(_tensor(logits), axis=-1 if axis is None else axis)


def _required(op, **arguments):
    for argument, value in arguments.items():
        if value is None:
            raise ValueError(f"xf.nn.{op}: {argument} is required (TF's keyword "
                             f"arguments: labels=..., logits=...); received None")


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Elementwise -z*log(sigmoid(x)) - (1-z)*log(1-sigmoid(x)) in TF's stable form
    max(x, 0) - x*z + log(1 + exp(-|x|))."""
    _required("sigmoid_cross_entropy_with_logits", labels=labels, logits=logits)
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels, logits.dtype)
    if labels.shape != logits.shape:
        raise ValueError(f"xf.nn.sigmoid_cross_entropy_with_logits: labels and logits must "
                         f"have the same shape; received {labels.shape} and {logits.shape}")
    return sigmoid_cross_entropy(labels, logits)


def sigmoid_cross_entropy(labels, logits):
    """The stable formula itself (no checks; Keras' binary_crossentropy uses it too),
    broadcasting `labels` against `logits`."""
    # TF's wheres, not maximum/abs: at a logit of exactly 0 jax gives those a gradient of
    # 0.5 and 0, so the gradient there came out -z instead of sigmoid(0) - z
    positive = logits >= 0
    relu_logits = jnp.where(positive, logits, jnp.zeros_like(logits))
    neg_abs_logits = jnp.where(positive, -logits, logits)
    return relu_logits - logits * labels + jnp.log1p(jnp.exp(neg_abs_logits))


def softmax_cross_entropy_with_logits(labels, logits, axis=-1, name=None):
    """-sum(labels * log_softmax(logits)) over `axis`: one loss per example (the Keras
    loss's formula, from logits)."""
    from xlaflow import losses  # (as the sparse one below: losses imports this module)
    return losses.categorical_crossentropy(labels, logits, from_logits=True, axis=axis)


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """-log_softmax(logits)[labels] per example: integer `labels` of shape logits[:-1]."""
    _required("sparse_softmax_cross_entropy_with_logits", labels=labels, logits=logits)
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    if labels.shape != logits.shape[:-1]:
        raise ValueError(f"xf.nn.sparse_softmax_cross_entropy_with_logits: labels must have "
                         f"shape {logits.shape[:-1]} (logits' without the class axis); "
                         f"received {labels.shape}")
    from xlaflow import losses  # imports this module: loaded on first call
    return losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def l2_loss(t, name=None):
    """sum(t ** 2) / 2, TF's weight-decay term."""
    return jnp.sum(jnp.square(_tensor(t))) / 2


def dropout(x, rate, noise_shape=None, seed=None, name=None):
    """Zero each element with probability `rate` and scale the kept ones by 1/(1 - rate),
    drawing from xf.random's global stream (fresh per call, also inside xf.function)."""
    from xlaflow import random as random_lib
    # a tensor rate (TF accepts one) is checked by neither TF nor here: it may be traced
    if isinstance(rate, numbers.Real) and not 0 <= rate < 1:
        raise ValueError(f"xf.nn.dropout: rate must be in [0, 1); received {rate!r}")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"xf.nn.dropout: x must be a floating tensor, as it is scaled by "
                         f"1 / (1 - rate); received dtype {x.dtype}")
    keep = random_lib.uniform(_noise_shape(x, noise_shape), seed=seed) >= rate
    return jnp.where(keep, x / (1 - rate), jnp.zeros((), x.dtype))


def _noise_shape(x, noise_shape):
    # TF fills a None entry of a full-rank noise_shape from x's shape: [None, 1, None]
    if noise_shape is None:
        return x.shape
    dims = list(noise_shape)
    if len(dims) == x.ndim:
        dims = [size if d is None else d for size, d in zip(x.shape, dims)]
    return tuple(int(d) for d in dims)
