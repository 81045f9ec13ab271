"""Losses of a forward pass: Keras 2's `activity_regularizer=` (a penalty on each output of
a layer, divided by that output's batch size) and `self.add_loss(tensor)` inside `call`.
Both join `layer.losses` until the next call.

As in Keras, the outermost layer call clears these losses of the layer and every layer
inside it, so `model.losses` holds those of the last forward pass only.
"""

from __future__ import annotations

import threading
import weakref

import jax
import jax.numpy as jnp
from jax.extend.core import get_opaque_trace_state

from xlaflow.layers import added_metrics


class _Depth(threading.local):
    depth = 0  # how many Layer calls on values are running (a class default: read on every
    # call, a missing attribute would cost an AttributeError each time, as _lifting notes)


_local = _Depth()
# The layers holding activity losses now (by id), so the outermost call has them to clear
# and a model without activity regularizers never walks its sublayers.
_holding = weakref.WeakValueDictionary()


class CallScope:
    """Entered around one Layer call on values; the outermost one clears the losses."""

    __slots__ = ("layer",)

    def __init__(self, layer):
        self.layer = layer

    def __enter__(self):
        depth = _local.depth
        if depth == 0:
            added_metrics.new_call()  # add_metric names are unique per outermost call
            if _holding:
                _clear(self.layer)
        _local.depth = depth + 1
        return self

    def __exit__(self, *exc):
        _local.depth -= 1
        return False


def call_depth():
    """How many Layer calls on values are running (0: none)."""
    return _local.depth


def _clear(root):
    inside = {id(root), *(id(m) for m in root.submodules)}
    for key in [k for k in list(_holding.keys()) if k in inside]:
        layer = _holding.pop(key, None)
        if layer is not None:
            layer._activity_losses = []


def record(layer, outputs):
    """Add `regularizer(output) / batch size` for each array in `outputs` (Keras 2's
    `_handle_activity_regularization`), tagged with the trace that computed it."""
    state = get_opaque_trace_state()
    for output in jax.tree_util.tree_leaves(outputs):
        penalty = jnp.asarray(layer.activity_regularizer(output), jnp.float32)
        batch = jnp.shape(output)[0] if jnp.ndim(output) else 1
        layer._activity_losses.append((state, penalty / batch))
    _holding[id(layer)] = layer


def add_loss(layer, losses):
    """Keras 2's `Layer.add_loss`: a tensor (or list of them) added inside `call` joins the
    losses of this forward pass; a zero-argument callable is evaluated each time `losses`
    is read (a loss on weights, not on inputs), as Keras does."""
    from xlaflow.layers import symbolic

    flat = [loss for loss in (losses if isinstance(losses, (list, tuple)) else [losses])
            if loss is not None]
    callables = [loss for loss in flat if callable(loss) and not hasattr(loss, "shape")]
    tensors = [loss for loss in flat if not (callable(loss) and not hasattr(loss, "shape"))]
    if tensors and symbolic.has_symbolic(tensors):
        raise NotImplementedError(
            f"{layer.name}.add_loss of a symbolic (functional API) tensor is not "
            "implemented for a layer: add the loss from the call() of a layer "
            "(self.add_loss(...)) placed in the model, pass a zero-argument callable, or "
            "add it to the functional model's own add_loss (model.add_loss(tensor))")
    if tensors and _local.depth == 0:
        raise ValueError(
            f"{layer.name}.add_loss: expected a tensor computed inside call() or a "
            f"zero-argument callable for the loss value, received {tensors[0]!r} outside "
            "any call; wrap the loss computation in a zero-argument `lambda`")
    values = [jnp.asarray(loss, jnp.float32) for loss in tensors]  # checked first
    layer.__dict__.setdefault("_callable_losses", []).extend(callables)
    if values:
        state = get_opaque_trace_state()
        layer._activity_losses.extend((state, value) for value in values)
        _holding[id(layer)] = layer


def current_losses(layer):
    """The layer's activity losses computed in the trace running now (eagerly: the eager
    ones). A penalty traced elsewhere (a shape pass, an earlier compiled step, a finished
    GradientTape block) cannot be used here; the next forward pass replaces it."""
    if not layer.__dict__.get("_activity_losses"):
        return []
    state = get_opaque_trace_state()
    return [penalty for traced_in, penalty in layer._activity_losses if traced_in == state]
