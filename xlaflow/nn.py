"""xf.nn: TF's loss-scaling helpers for custom training loops under a strategy (and, from
nn_ops.py, TF's tf.nn activations and cross-entropies).

Inside `strategy.run` each replica sees its slice of the global batch, and the gradients
of the replicas are summed; dividing each replica's summed loss by the *global* batch size
makes that sum the gradient of the mean loss over the global batch, as on one device.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _op_dispatch


def compute_average_loss(per_example_loss, sample_weight=None, global_batch_size=None):
    """TF's tf.nn.compute_average_loss: sum(per_example_loss * sample_weight) divided by
    `global_batch_size` (default: this replica's batch times num_replicas_in_sync)."""
    from xlaflow.distribute import replica_context
    per_example_loss = jnp.asarray(per_example_loss)
    dtype = per_example_loss.dtype
    if per_example_loss.ndim == 0:
        raise ValueError("Invalid value passed for `per_example_loss`. Expected a tensor "
                         "with at least rank 1 (one loss per example); received a scalar")
    if sample_weight is not None:
        per_example_loss = _scale_by_sample_weight(per_example_loss,
                                                   jnp.asarray(sample_weight))
    per_example_loss = per_example_loss.astype(dtype)
    if global_batch_size is None:
        if replica_context.in_cross_replica_context():
            raise RuntimeError(
                "You are calling `compute_average_loss` in cross replica context, while it "
                "was expected to be called in replica context (inside strategy.run); "
                "or pass global_batch_size")
        replicas = replica_context.get_strategy().num_replicas_in_sync
        global_batch_size = per_example_loss.shape[0] * replicas
    _check_global_batch_size(global_batch_size)
    return jnp.sum(per_example_loss) / jnp.asarray(global_batch_size).astype(dtype)


def scale_regularization_loss(regularization_loss):
    """TF's tf.nn.scale_regularization_loss: the summed regularization loss divided by
    num_replicas_in_sync, so that the replicas' summed gradients count it once."""
    from xlaflow.distribute import replica_context
    if replica_context.in_cross_replica_context():
        raise RuntimeError(
            "You are calling `scale_regularization_loss` in cross replica context, while "
            "it was expected to be called in replica context (inside strategy.run)")
    replicas = replica_context.get_strategy().num_replicas_in_sync
    return jnp.sum(jnp.asarray(regularization_loss)) / replicas


def _scale_by_sample_weight(losses, weight):
    """losses * weight in float32 after TF's rank matching: a weight with one trailing
    size-1 axis more is squeezed, one with an axis fewer gets a trailing axis."""
    if weight.ndim == losses.ndim + 1 and weight.shape[-1] == 1:
        weight = jnp.squeeze(weight, -1)
    elif weight.ndim == losses.ndim - 1:
        weight = jnp.expand_dims(weight, -1)
    try:
        shape = jnp.broadcast_shapes(losses.shape, weight.shape)
    except ValueError:
        shape = None
    if shape != losses.shape:
        raise ValueError(f"sample_weight of shape {weight.shape} does not broadcast to "
                         f"per_example_loss's shape {losses.shape}")
    return losses.astype(jnp.float32) * weight.astype(jnp.float32)


def _check_global_batch_size(size):
    if isinstance(size, jax.core.Tracer):
        if jnp.ndim(size) != 0 or not jnp.issubdtype(size.dtype, jnp.integer):
            raise ValueError(f"global_batch_size must be a scalar integer; received a "
                             f"{size.dtype} tensor of shape {jnp.shape(size)}")
        return  # a traced size's sign is only known when the program runs
    value = np.asarray(size)
    if value.ndim != 0 or not np.issubdtype(value.dtype, np.integer) or value <= 0:
        raise ValueError(f"global_batch_size must be a positive scalar integer; received "
                         f"{size!r}")


# TF's tf.nn activations and cross-entropies live beside these helpers under xf.nn
from xlaflow.math_extra import embedding_lookup, l2_normalize, moments  # noqa: F401
from xlaflow.nn_ops import (  # noqa: F401
    dropout,
    elu,
    gelu,
    l2_loss,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    selu,
    sigmoid,
    sigmoid_cross_entropy_with_logits,
    silu,
    softmax,
    softmax_cross_entropy_with_logits,
    softplus,
    softsign,
    sparse_softmax_cross_entropy_with_logits,
    swish,
    tanh,
)

# Last, once every function exists: the public ones accept symbolic Keras tensors
_op_dispatch.expose(globals(), "nn")
