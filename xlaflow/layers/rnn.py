"""keras.layers.RNN: a user's cell (a Layer with `state_size` and `call(inputs, states)`
returning `(output, new_states)`; a list of cells is a StackedRNNCells) run over the time
axis with one lax.scan, as Keras 2.

Inputs, states and outputs may be nested (the Keras guide's NestedCell); the cell is built
on one time step's shapes. With a mask (batch, time) a masked step keeps the states and
repeats the previous output (zeros with zero_output_for_mask), as Keras 2's backend.rnn.
`stateful` keeps the final states for the next call, as the built-in layers do (see
rnn_stateful); `unroll` unrolls the scan; `time_major` takes and gives (time, batch, ...)
(mask (time, batch)); a built-in cell's dropout masks are drawn once per call (see
rnn_cells).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow.layers.base import Layer, _accepts
from xlaflow.layers.rnn_stateful import StatefulStates
from xlaflow.layers.stacked_cells import StackedRNNCells, flat_state_shapes
from xlaflow.saving import serialization


def _zero_output(run_cell, first, states):
    """Zeros shaped as the cell's output of one step (the scan's first previous output).
    With concrete values the step is traced for its shapes only: run, each of the cell's
    ops compiled for the call's shapes, only for its output to be discarded."""
    if any(isinstance(leaf, jax.core.Tracer)
           for leaf in jax.tree_util.tree_leaves((first, states))):
        return jax.tree_util.tree_map(jnp.zeros_like, run_cell(first, states)[0])
    from xlaflow import _lifting
    shapes = _lifting.eval_shape(lambda x, carry: run_cell(x, carry)[0], first, states)
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def _is_shape(s):
    return isinstance(s, (tuple, list)) and all(d is None or isinstance(d, int) for d in s)


class RNN(StatefulStates, Layer):
    """Keras 2's RNN base layer over `cell` (`return_sequences`, `return_state`,
    `go_backwards`, `stateful`, `initial_state=`, masks). Outputs: the last step's output
    (or all steps'), then with return_state the final states."""

    _per_value = "masked"  # a RaggedTensor runs padded, with its mask (ragged_calls)

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, time_major=False, **kwargs):
        # Keras 2 takes it through **kwargs; Bidirectional sets it to return_sequences.
        zero_output_for_mask = kwargs.pop("zero_output_for_mask", False)
        if isinstance(cell, (list, tuple)):  # Keras 2: one scan running them in turn
            cell = StackedRNNCells(cell)
        if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
            raise ValueError("RNN: cell must be a Layer with a `state_size` attribute and a "
                             f"call(inputs, states) method; received {cell!r}")
        super().__init__(**kwargs)
        self.cell = cell
        self._state_shapes = flat_state_shapes(cell)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll, self.time_major = bool(unroll), bool(time_major)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._init_stateful(stateful)

    def build(self, input_shape):
        # the cell sees one time step: (batch, time, *rest) -> (batch, *rest), per input
        def step_shape(s):
            if len(s) < 3:
                order = "time, batch" if self.time_major else "batch, time"
                raise ValueError(f"{self.name} expects inputs of shape ({order}, "
                                 f"features...); received {input_shape}")
            return (s[int(not self.time_major)], *s[2:])
        if not self.cell.built:
            self.cell.build(jax.tree_util.tree_map(step_shape, input_shape, is_leaf=_is_shape))
            self.cell.built = True
        if self.stateful:  # the batch axis of the first input (Keras 2 checks it at build)
            first = jax.tree_util.tree_leaves(input_shape, is_leaf=_is_shape)[0]
            self._check_batch_size(first[int(self.time_major)])
        self.built = True

    def _initial_states(self, batch, dtype):
        """Zeros for each state (the cell's own get_initial_state if it has one), flat."""
        own = getattr(self.cell, "get_initial_state", None)
        if own is not None:
            states = own(inputs=None, batch_size=batch, dtype=dtype)
            return self._flat_states(states)
        return [jnp.zeros((batch, *shape), dtype) for shape in self._state_shapes]


    def _flat_states(self, states):
        """`states` as the scan carries them: a list, a stacked cell's groups flattened."""
        if isinstance(self.cell, StackedRNNCells):
            return jax.tree_util.tree_leaves(states)
        return list(states) if isinstance(states, (list, tuple)) else [states]

    def _given_states(self, initial_state, zeros):
        # stacked cells: grouped by cell, as Keras 2 returns them (or already flat)
        given = self._flat_states(initial_state)
        if len(given) != len(zeros) or any(jnp.shape(g) != z.shape
                                           for g, z in zip(given, zeros)):
            raise ValueError(f"{self.name}: initial_state must be {len(zeros)} state(s) of "
                             f"shapes {[z.shape for z in zeros]}; received "
                             f"{[tuple(jnp.shape(g)) for g in given]}")
        return [jnp.asarray(g).astype(z.dtype) for g, z in zip(given, zeros)]

    def call(self, inputs, initial_state=None, mask=None, training=None):
        from xlaflow.autograph import api
        from xlaflow.config import flags

        leaves = jax.tree_util.tree_leaves(inputs)
        batch = leaves[0].shape[1 if self.time_major else 0]
        dtype = jnp.dtype(self.compute_dtype)
        states = self._starting_states(self._initial_states(batch, dtype), initial_state)
        # time-major inside (the scan's axis); with time_major the mask is (time, batch)
        steps = inputs if self.time_major else \
            jax.tree_util.tree_map(lambda x: jnp.swapaxes(jnp.asarray(x), 0, 1), inputs)
        keep = None
        if mask is not None:
            mask = mask[0] if isinstance(mask, (list, tuple)) else mask
            keep = jnp.asarray(mask).astype(bool)
            keep = keep if self.time_major else jnp.swapaxes(keep, 0, 1)
        if self.go_backwards:
            steps = jax.tree_util.tree_map(lambda x: x[::-1], steps)
            keep = None if keep is None else keep[::-1]
        cell_call = api.convert(self.cell.call) if flags.autograph else self.cell.call
        extra = {"training": training} if _accepts(type(self.cell).call, "training") else {}

        def run_cell(x_t, carry):
            output, new = cell_call(x_t, list(carry), **extra)
            new = self._flat_states(new)
            if len(new) != len(carry):
                raise ValueError(f"{self.name}: the cell returned {len(new)} state(s); its "
                                 f"state_size has {len(carry)}")
            return output, tuple(jnp.asarray(n).astype(c.dtype) for n, c in zip(new, carry))

        def step(carry, xs):
            states, previous = carry
            x_t, keep_t = xs
            output, new = run_cell(x_t, states)
            if keep_t is not None:
                def where(n, old):
                    k = keep_t.reshape(keep_t.shape + (1,) * (n.ndim - 1))
                    return jnp.where(k, n, old)
                new = tuple(where(n, s) for n, s in zip(new, states))
                fill = jax.tree_util.tree_map(jnp.zeros_like, output) \
                    if self.zero_output_for_mask else previous
                output = jax.tree_util.tree_map(where, output, fill)
            return (new, output), output

        first = jax.tree_util.tree_map(lambda x: x[0], steps)
        begin = getattr(self.cell, "begin_dropout", None)
        if begin is not None:  # the masks of this call, the same at every step
            begin(jax.tree_util.tree_leaves(first)[0], training)
        try:
            zeros_out = _zero_output(run_cell, first, tuple(states))
            (final, _), outputs = jax.lax.scan(step, (tuple(states), zeros_out),
                                               (steps, keep), unroll=self.unroll)
        finally:
            if begin is not None:
                self.cell.end_dropout()
        self._keep_states(final)
        if self.return_sequences:
            out = outputs if self.time_major else \
                jax.tree_util.tree_map(lambda o: jnp.swapaxes(o, 0, 1), outputs)
        else:
            out = jax.tree_util.tree_map(lambda o: o[-1], outputs)
        # compute_mask gives each output of a nested cell (the guide's NestedCell) its mask
        self._output_tree = jax.tree_util.tree_structure(out)
        if not self.return_state:
            return out
        if isinstance(self.cell, StackedRNNCells):  # one entry per cell, as Keras 2
            final = self.cell.group_states(final)
        # Keras 2's to_list(output) + states: a cell's tuple output stays one entry
        return [*(out if isinstance(out, list) else [out]), *final]

    def compute_mask(self, inputs, mask=None):
        """As Keras 2: the input mask goes on with return_sequences, else none."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        tree = self.__dict__.get("_output_tree")  # set by call; one output before a call
        if tree is not None and tree.num_leaves > 1:  # one mask per output of the cell
            output_mask = tree.unflatten([output_mask] * tree.num_leaves)
        if self.return_state:
            return [output_mask] + [None] * len(self._state_shapes)
        return output_mask

    def get_config(self):
        return {**super().get_config(), "cell": serialization.serialize_keras_object(self.cell),
                "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "stateful": self.stateful, "unroll": self.unroll, "time_major": self.time_major,
                **({"zero_output_for_mask": True} if self.zero_output_for_mask else {})}
