"""keras.layers.StackedRNNCells: several cells run one after another within each time step,
so `RNN([cell_1, cell_2])` is one scan over time where stacked RNN layers are several.

Its state is every cell's states, flattened in order (an LSTMCell's h and c, then the next
cell's), as Keras 2 returns them with `return_state`; its output is the last cell's.
"""

from __future__ import annotations

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
        self._counts = [len(state_shapes(cell.state_size)) for cell in cells]

    @property
    def state_size(self):
        return [shape for cell in self.cells for shape in state_shapes(cell.state_size)]

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
        new_states = []
        for cell, cell_states in zip(self.cells, self._split(states)):
            extra = {"training": training} if _accepts(type(cell).call, "training") else {}
            inputs, new = cell.call(inputs, cell_states, **extra)
            new_states.extend(new if isinstance(new, (list, tuple)) else [new])
        return inputs, new_states

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Each cell's own initial states where it defines them, else zeros."""
        states = []
        for cell in self.cells:
            own = getattr(cell, "get_initial_state", None)
            if own is not None:
                made = own(inputs=inputs, batch_size=batch_size, dtype=dtype)
                states.extend(made if isinstance(made, (list, tuple)) else [made])
            else:
                states.extend(jnp.zeros((batch_size, *shape), dtype)
                              for shape in state_shapes(cell.state_size))
        return states

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
