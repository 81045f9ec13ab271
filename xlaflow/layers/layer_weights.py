"""Which of a layer's arguments (`kernel_regularizer`, `kernel_constraint`, ...) apply to a
weight it creates, from the weight's name."""

from __future__ import annotations

# Keras' argument prefix for weights whose own name is not it ('<prefix>_regularizer',
# '<prefix>_constraint'); a weight named 'query/kernel' (MultiHeadAttention) takes 'kernel_*'.
_ARGUMENT_PREFIX = {"recurrent_kernel": "recurrent", "depthwise_kernel": "depthwise",
                    "pointwise_kernel": "pointwise"}


def weight_argument(name, kind):
    """The layer argument ('kernel_regularizer', 'recurrent_constraint', ...) that applies to
    a weight named `name`; `kind` is 'regularizer' or 'constraint'."""
    base = (name or "").rsplit("/", 1)[-1]
    return f"{_ARGUMENT_PREFIX.get(base, base)}_{kind}"
