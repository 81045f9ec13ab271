"""Keras 2's training mode for a layer call: an explicit `training=` wins, then the mode of
the enclosing layer call, then the default of `training` in the layer's `call` signature.

So `fit` reaches a Dropout that a custom layer calls without forwarding `training`, and a
direct call of an augmentation layer (whose `call` defaults to `training=True`) augments.
"""

from __future__ import annotations

import contextvars
import functools
import inspect

_ENCLOSING = contextvars.ContextVar("xlaflow_layer_training", default=None)


@functools.cache
def _signature_default(call):
    try:
        param = inspect.signature(call).parameters.get("training")
    except (TypeError, ValueError):
        return None
    if param is None or param.default is inspect.Parameter.empty:
        return None
    return param.default


def resolve(call, training):
    """The mode a call of `call` runs in, given the `training` it was passed."""
    if training is None:
        training = _ENCLOSING.get()
    if training is None:
        training = _signature_default(call)
    return training


def enter(training):
    """Make `training` the enclosing mode of the calls made inside; returns the token for
    `leave`."""
    return _ENCLOSING.set(training)


def leave(token):
    _ENCLOSING.reset(token)
