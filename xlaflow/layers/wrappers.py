"""Layer wrappers: Bidirectional (a recurrent layer run forward and backward) and
TimeDistributed (a layer applied to every time step)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow.layers import keras_mask
from xlaflow.layers.base import Layer
from xlaflow.layers.rnn_stateful import check_batch_known
from xlaflow.saving import serialization

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _layer_argument(owner, argument, value, recurrent=False):
    needs = ("a recurrent layer instance (SimpleRNN, LSTM, GRU)" if recurrent else
             "a Layer instance")
    if not isinstance(value, Layer) or (recurrent and not all(
            hasattr(value, a) for a in ("go_backwards", "return_sequences", "return_state"))):
        raise ValueError(f"{owner}: {argument} must be {needs}; received {value!r}")


def _copy(layer, **changes):
    """A new, unbuilt layer of `layer`'s class and config, with `changes` applied."""
    return type(layer).from_config({**layer.get_config(), **changes})


class Bidirectional(Layer):
    """Runs `layer` over the sequence forward and a copy of it backward, and merges their
    outputs (`merge_mode` 'concat' (default), 'sum', 'mul', 'ave', or None for the list
    [forward, backward]). With return_sequences the backward outputs are put back in time
    order; with return_state the result is [output(s), forward states..., backward
    states...], and `initial_state` is the forward states then the backward ones.

    As in Keras 2, `layer` itself is not used: its config makes the sublayers
    `forward_layer` (named 'forward_<name>') and, unless `backward_layer` is given,
    `backward_layer` (go_backwards flipped, named 'backward_<name>'). Weights: the forward
    layer's, then the backward layer's."""

    _per_value = "masked"  # a RaggedTensor runs padded, with its mask (ragged_calls)

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        _layer_argument("Bidirectional", "layer", layer, recurrent=True)
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {list(_MERGE_MODES)}; "
                             f"received {merge_mode!r}")
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        # Configs, not the layers: holding `layer` would count its weights (if built) as ours.
        self._layer_config = serialization.serialize_keras_object(layer)
        self._backward_layer_config = None
        self.forward_layer = _copy(layer, name=f"forward_{layer.name}")
        if backward_layer is None:
            self.backward_layer = _copy(layer, name=f"backward_{layer.name}",
                                        go_backwards=not layer.go_backwards)
        else:
            _layer_argument("Bidirectional", "backward_layer", backward_layer, recurrent=True)
            self._check_backward(layer, backward_layer)
            self._backward_layer_config = serialization.serialize_keras_object(backward_layer)
            backward_layer._module_name = f"backward_{backward_layer.name}"  # as Keras
            self.backward_layer = backward_layer
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = getattr(layer, "stateful", False)
        # As Keras 2: with a mask, merged sequences hold zeros at the masked steps.
        for sublayer in (self.forward_layer, self.backward_layer):
            sublayer.zero_output_for_mask = sublayer.return_sequences
        if not self.trainable:
            self.trainable = False  # freezes the sublayers too

    @staticmethod
    def _check_backward(layer, backward):
        if backward.go_backwards == layer.go_backwards:
            raise ValueError(
                "Bidirectional: the forward layer and backward_layer must have different "
                f"go_backwards; received go_backwards={layer.go_backwards} for both")
        for attribute in ("return_sequences", "return_state"):
            if getattr(backward, attribute) != getattr(layer, attribute):
                raise ValueError(
                    f"Bidirectional: the forward layer and backward_layer must have the same "
                    f"{attribute}; received {getattr(layer, attribute)} (forward) and "
                    f"{getattr(backward, attribute)} (backward)")

    def __call__(self, inputs, *args, **kwargs):
        # a stateful layer needs a known batch size (Keras 2 raises at build)
        check_batch_known(self, inputs,
                          getattr(self.forward_layer, "_state_variables", None) is not None)
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        for sublayer in (self.forward_layer, self.backward_layer):
            if not sublayer.built:
                sublayer._build_on_call(input_shape)
                sublayer.built = True
        self.built = True

    supports_masking = True

    def reset_states(self, states=None):
        """Keras 2's: the forward layer's kept states then the backward one's, zeroed or
        set from `states` (the forward layer's states, then the backward layer's)."""
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        states = list(states)
        self.forward_layer.reset_states(states[:len(states) // 2])
        self.backward_layer.reset_states(states[len(states) // 2:])

    def call(self, inputs, initial_state=None, mask=None):
        forward_state = backward_state = None
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else \
                [initial_state]
            if not states or len(states) % 2:
                raise ValueError(
                    f"{self.name}: initial_state must list the forward layer's states then "
                    f"the backward layer's (an even number); received {len(states)}")
            forward_state, backward_state = states[:len(states) // 2], states[len(states) // 2:]
        y = self.forward_layer(inputs, initial_state=forward_state, mask=mask)
        y_rev = self.backward_layer(inputs, initial_state=backward_state, mask=mask)
        states = []
        if self.return_state:
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = jnp.flip(y_rev, axis=1)  # back in time order
        if self.merge_mode == "concat":
            output = jnp.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            output = y * y_rev
        else:
            output = [y, y_rev]
        if not self.return_state:
            return output
        return [*output, *states] if self.merge_mode is None else [output, *states]

    def compute_mask(self, inputs, mask=None):
        """As Keras 2: the input mask for each merged (or listed) sequence output, none
        for a last output or the states."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        output_masks = [output_mask] * (2 if self.merge_mode is None else 1)
        if not self.return_state:
            return output_masks if self.merge_mode is None else output_mask
        states = len(self.forward_layer._initial_states(1, jnp.float32))
        return output_masks + [None] * (2 * states)

    def get_config(self):
        return {**super().get_config(), "layer": self._layer_config,
                "merge_mode": self.merge_mode, "backward_layer": self._backward_layer_config}


class TimeDistributed(Layer):
    """Applies `layer` to every time step of (batch, time, ...) inputs, with the same
    weights: time is folded into the batch, (batch * time, ...), for one call of `layer`.
    Its weights are `layer`'s."""

    def __init__(self, layer, **kwargs):
        _layer_argument("TimeDistributed", "layer", layer)
        super().__init__(**kwargs)
        self.layer = layer
        if not self.trainable:
            self.trainable = False  # freezes `layer` too

    @staticmethod
    def _folded(shape):
        return (None if None in shape[:2] else shape[0] * shape[1], *shape[2:])

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"{self.name} expects inputs of rank 3 or more (batch, time, "
                             f"...); received shape {input_shape}")
        if not self.layer.built:
            self.layer._build_on_call(self._folded(input_shape))
            self.layer.built = True
        self.built = True

    supports_masking = True

    def call(self, inputs, training=None, mask=None):
        if inputs.ndim < 3:
            raise ValueError(f"{self.name} expects inputs of rank 3 or more (batch, time, "
                             f"...); received shape {inputs.shape}")
        batch, steps = inputs.shape[:2]
        kwargs = {}
        if mask is not None and keras_mask.takes_mask(self.layer):  # folded as the inputs
            kwargs["mask"] = jnp.reshape(jnp.asarray(mask), self._folded(jnp.shape(mask)))
        outputs = self.layer(jnp.reshape(inputs, self._folded(inputs.shape)),
                             training=training, **kwargs)
        return jax.tree_util.tree_map(
            lambda o: jnp.reshape(o, (batch, steps, *o.shape[1:])), outputs)

    def compute_mask(self, inputs, mask=None):
        """As Keras 2 in a model: the inner layer's mask of the folded steps, unfolded;
        where it gives none (Dense), the input mask reduced to (batch, time)."""
        batch, steps = inputs.shape[:2]
        inner_mask = None if mask is None else jnp.reshape(
            jnp.asarray(mask), self._folded(jnp.shape(mask)))
        # A layer that does not support masking passes the steps' mask on (not Keras 2's
        # TypeError), as TimeDistributed does in TF 2's eager Keras.
        output_mask = self.layer.compute_mask(
            jnp.reshape(inputs, self._folded(inputs.shape)), inner_mask) \
            if keras_mask.computes_masks(self.layer) else None
        if output_mask is not None:
            return jnp.reshape(output_mask, (batch, steps, *output_mask.shape[1:]))
        if mask is None:
            return None
        mask = jnp.asarray(mask)
        return jnp.any(mask, axis=tuple(range(2, mask.ndim))) if mask.ndim > 2 else mask

    def get_config(self):
        return {**super().get_config(),
                "layer": serialization.serialize_keras_object(self.layer)}
