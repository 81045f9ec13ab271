"""keras.layers.StackedRNNCells: several cells run one after another within each time step,
so `RNN([cell_1, cell_2])` is one scan over time where stacked RNN layers are several.

Its states are grouped by cell, as Keras 2's: `state_size` is the cells' state sizes in a
tuple, and RNN(return_state=True) gives the output, then each cell's states (a list for a
cell with several, as an LSTMCell's [h, c]; the tensor for a cell with one). RNN's scan
carries them flat; its output is the last cell's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow.layers.base import Layer, _accepts
from xlaflow.saving import serialization


def state_shapes(state_size):
    """`state_size` as a list of shapes (without the batch), one per state: an int or a
    TensorShape is one state; a list or tuple holds one entry per state, as in Keras."""
    sizes = list(state_size) if isinstance(state_size, (list, tuple)) else [state_size]
    shapes = []
    for size in sizes:
        dims = (size,) if isinstance(size, int) else tuple(size)
        if not dims or not all(isinstance(d, int) and d > 0 for d in dims):
            raise ValueError(f"RNN: the cell's state_size must be positive ints or "
                             f"TensorShapes of them; received {state_size!r}")
        shapes.append(dims)
    return shapes


def _multiple(state_size):
    """Keras 2's is_multiple_state: a list or tuple of sizes (not one int or TensorShape)."""
    return isinstance(state_size, (list, tuple))


def flat_state_shapes(cell):
    """Every state's shape (without the batch) that `cell` carries, in order."""
    if isinstance(cell, StackedRNNCells):
        return [shape for c in cell.cells for shape in flat_state_shapes(c)]
    return state_shapes(cell.state_size)


def _output_size(cell):
    """A cell's output width: its output_size, else its first state's (Keras 2's rule)."""
    size = getattr(cell, "output_size", None)
    if size is None:
        size = state_shapes(cell.state_size)[0]
    return tuple(size) if isinstance(size, (list, tuple)) else (size,)


class StackedRNNCells(Layer):
    """Keras 2's StackedRNNCells: `cells` applied in order at each step, the output of one
    the input of the next."""

    def __init__(self, cells, **kwargs):
        cells = list(cells)
        if not cells:
            raise ValueError("StackedRNNCells: cells must be a non-empty list of cells")
        for cell in cells:
            if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
                raise ValueError("StackedRNNCells: each cell must be a Layer with a "
                                 f"`state_size` and call(inputs, states); received {cell!r}")
        super().__init__(**kwargs)
        self.cells = cells
        self._counts = [len(flat_state_shapes(cell)) for cell in cells]

    @property
    def state_size(self):
        return tuple(cell.state_size for cell in self.cells)

    def group_states(self, flat):
        """The flat states as Keras 2 gives them: one entry per cell, a list of its states
        where it has several (its state_size a list or tuple), else the one state."""
        return [cell.group_states(part) if isinstance(cell, StackedRNNCells) else
                list(part) if _multiple(cell.state_size) else part[0]
                for cell, part in zip(self.cells, self._split(flat))]

    @property
    def output_size(self):
        size = _output_size(self.cells[-1])
        return size[0] if len(size) == 1 else size

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            if not cell.built:
                cell.build(shape)
                cell.built = True
            shape = (*shape[:1], *_output_size(cell))
        self.built = True

    def _split(self, states):
        states, start, parts = list(states), 0, []
        for count in self._counts:
            parts.append(states[start:start + count])
            start += count
        return parts

    def call(self, inputs, states, training=None):
        """One step: `states` grouped by cell (as get_initial_state gives them) or flat;
        the new states come back grouped by cell, as Keras 2's."""
        new_states = []
        for cell, cell_states in zip(self.cells, self._split(jax.tree_util.tree_leaves(
                states))):
            extra = {"training": training} if _accepts(type(cell).call, "training") else {}
            if isinstance(cell, StackedRNNCells):
                cell_states = cell.group_states(cell_states)
            inputs, new = cell.call(inputs, cell_states, **extra)
            new_states.extend(jax.tree_util.tree_leaves(new))
        return inputs, self.group_states(new_states)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Each cell's own initial states where it defines them, else zeros: a tuple with
        one entry per cell, as Keras 2's."""
        states = []
        for cell in self.cells:
            own = getattr(cell, "get_initial_state", None)
            if own is not None:
                states.append(own(inputs=inputs, batch_size=batch_size, dtype=dtype))
            else:
                zeros = [jnp.zeros((batch_size, *shape), dtype)
                         for shape in state_shapes(cell.state_size)]
                states.append(zeros if _multiple(cell.state_size) else zeros[0])
        return tuple(states)

    # keras.layers.RNN draws the cells' dropout masks once per call (see rnn_cells)
    def begin_dropout(self, inputs, training):
        for cell in self.cells:
            begin = getattr(cell, "begin_dropout", None)
            if begin is not None:
                begin(inputs, training)
            inputs = jnp.zeros((inputs.shape[0], *_output_size(cell)), inputs.dtype)

    def end_dropout(self):
        for cell in self.cells:
            end = getattr(cell, "end_dropout", None)
            if end is not None:
                end()

    def get_config(self):
        return {**super().get_config(),
                "cells": [serialization.serialize_keras_object(c) for c in self.cells]}
