"""What a layer attaches to each weight it creates: the Variable kind with TF's `constraint`
attribute, and which of the layer's arguments (`kernel_regularizer`, ...) apply to it."""

from __future__ import annotations

from xlaflow.variables import Variable

# Keras' argument prefix for weights whose own name is not it ('<prefix>_regularizer',
# '<prefix>_constraint'); a weight named 'query/kernel' (MultiHeadAttention) takes 'kernel_*'.
_ARGUMENT_PREFIX = {"recurrent_kernel": "recurrent", "depthwise_kernel": "depthwise",
                    "pointwise_kernel": "pointwise"}


def weight_argument(name, kind):
    """The layer argument ('kernel_regularizer', 'recurrent_constraint', ...) that applies to
    a weight named `name`; `kind` is 'regularizer' or 'constraint'."""
    base = (name or "").rsplit("/", 1)[-1]
    return f"{_ARGUMENT_PREFIX.get(base, base)}_{kind}"


class LayerWeight(Variable):
    """A layer's weight: an xf.Variable with TF's `constraint` attribute, the projection the
    optimizer applies after each update (None for none). xf.Variable itself has no slot for
    it, hence this subclass; every layer weight has the attribute, as in TF."""

    __slots__ = ("constraint",)

    def __init__(self, initial_value, trainable=True, name=None, constraint=None):
        super().__init__(initial_value, trainable=trainable, name=name)
        self.constraint = constraint
