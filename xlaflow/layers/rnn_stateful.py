"""Keras 2's `stateful=True` for recurrent layers, shared by SimpleRNN/LSTM/GRU
(recurrent.py) and RNN over a user's cell (rnn.py).

The final states of a call are kept in non-trainable Variables (`layer.states`, not weights)
that the next call starts from, until `reset_states()`. The first call that computes (not a
model's shape pass) fixes their batch size; as Keras 2, a stateful layer built on symbolic
inputs of unknown (None) batch size is a ValueError.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import _lifting
from xlaflow.layers import symbolic
from xlaflow.variables import Variable


def needs_batch_size(name):
    """Keras 2's error for a stateful RNN built for inputs of unknown batch size."""
    return (f"{name}: if a RNN is stateful, it needs to know its batch size. Specify the "
            "batch size of your input tensors: in a Sequential model, pass "
            "batch_input_shape=(batch, time, features) to its first layer (or "
            "keras.Input(shape, batch_size=batch)); in the functional API, pass batch_size= "
            "to keras.Input. Or call the layer on an array")


def check_batch_known(layer, inputs, has_states):
    """As Keras 2, which makes a stateful RNN's states when it builds: a stateful layer
    without states yet (a Sequential's shape pass may have built it) called on a symbolic
    tensor whose batch size is None is a ValueError (no batch to make the states for)."""
    if layer.stateful and not has_states:
        first = jax.tree_util.tree_leaves(inputs, is_leaf=symbolic.is_symbolic)
        batch_axis = 1 if getattr(layer, "time_major", False) else 0
        if first and symbolic.is_symbolic(first[0]) and first[0].shape[batch_axis] is None:
            raise ValueError(needs_batch_size(layer.name))


def _shape_pass():
    """Whether this call is a model's shape inference (its batch size a placeholder)."""
    ctx = _lifting.current()
    while ctx is not None:
        if getattr(ctx, "shape_only", False):
            return True
        ctx = getattr(ctx, "parent", None)
    return False


class StatefulStates:
    """Mixin (before Layer in the bases) for a recurrent layer with `stateful`, `time_major`,
    `_initial_states(batch, dtype)` (its zero states, flat) and `_given_states(states,
    zeros)` (states a user passes, checked against those zeros)."""

    _untracked_attributes = frozenset({"_state_variables"})  # states, not weights

    def _init_stateful(self, stateful):
        self.stateful = bool(stateful)
        self._state_variables = None  # stateful: made by the first call that computes

    def __call__(self, inputs, *args, **kwargs):
        check_batch_known(self, inputs, self._state_variables is not None)
        return super().__call__(inputs, *args, **kwargs)

    def _check_batch_size(self, batch):
        """At build: a stateful layer needs the batch size (Keras 2 makes its states there)."""
        if self.stateful and batch is None:
            raise ValueError(needs_batch_size(self.name))

    def _make_states(self, batch):
        if batch is None:  # reset_states() before any call, with no batch size declared
            raise ValueError(needs_batch_size(self.name))
        with jax.ensure_compile_time_eval():
            zeros = self._initial_states(int(batch), jnp.dtype(self.dtype))
        self._state_variables = [Variable(z, trainable=False, name=f"{self.name}/state_{i}")
                                 for i, z in enumerate(zeros)]

    def get_initial_state(self, inputs):
        """Keras 2's zero states for a batch like `inputs` (the first, if nested), as a
        list of one array per state, in the inputs' dtype: what `initial_state=` takes."""
        first = jax.tree_util.tree_leaves(inputs)[0]
        batch = first.shape[int(bool(getattr(self, "time_major", False)))]
        return list(self._initial_states(batch, jnp.dtype(first.dtype)))

    @property
    def states(self):
        """The stateful layer's state Variables ([h, c] for LSTM); Nones otherwise."""
        if self._state_variables is None:
            return [None] * len(self._initial_states(1, jnp.float32))
        return list(self._state_variables)

    def reset_states(self, states=None):
        """Sets the kept states to zeros, or to `states` (arrays of the states' shapes)."""
        if not self.stateful:
            raise AttributeError(f"{self.name}: reset_states() needs a stateful layer "
                                 "(stateful=True)")
        if self._state_variables is None:
            declared = self._batch_input_shape
            self._make_states(None if declared is None else
                              declared[int(getattr(self, "time_major", False))])
        zeros = tuple(v.value for v in self._state_variables)
        values = zeros if states is None else self._given_states(states, zeros)
        for variable, value in zip(self._state_variables, values):
            variable.assign(jnp.zeros_like(value) if states is None else value)

    def _starting_states(self, zeros, initial_state):
        """The states a call starts from: a stateful layer's kept ones (as Keras 2: a given
        initial_state counts only while the kept states are all zeros), else
        `initial_state` or `zeros`."""
        given = None if initial_state is None else self._given_states(initial_state, zeros)
        if not self.stateful or _shape_pass():  # a shape pass's batch is a placeholder
            return zeros if given is None else given
        if self._state_variables is None:
            self._make_states(zeros[0].shape[0])
        kept = self._state_variables
        if kept[0].shape != zeros[0].shape:
            raise ValueError(f"{self.name}: this stateful layer keeps states for batches of "
                             f"{kept[0].shape[0]}; received a batch of {zeros[0].shape[0]} "
                             "(call reset_states on a new layer for another batch size)")
        kept = tuple(v.value.astype(z.dtype) for v, z in zip(kept, zeros))
        if given is None:
            return kept
        recorded = sum(jnp.any(k != 0) for k in kept) > 0
        return tuple(jnp.where(recorded, k, g) for k, g in zip(kept, given))

    def _keep_states(self, final):
        """A stateful layer keeps the call's final states for the next call."""
        if self.stateful and self._state_variables is not None and not _shape_pass():
            for variable, state in zip(self._state_variables, final):
                variable.assign(state.astype(variable.dtype))


def kept_states(model):
    """The state Variables the stateful RNNs inside `model` keep between calls: its
    transient state, not weights (a saved model loads with them at zeros, as after
    reset_states)."""
    return [state for layer in (model, *model.submodules)
            if getattr(layer, "stateful", False)
            for state in getattr(layer, "_state_variables", None) or ()]
