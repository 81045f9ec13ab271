"""How a Model is built for its inputs and checks later ones: the first call's or
`build(shape)`'s input shapes, remembered for saving and checked on every fit/predict."""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _lifting
from xlaflow.layers import symbolic
from xlaflow.layers.symbolic import is_symbolic
from xlaflow.models import shapes
from xlaflow.training.ragged_batches import dense_view


class BuildingMethods:
    """Model's building and input checks (a mixin of Model: reads its `_graph`, `trainer`,
    `_build_input_shape`, `_batch_input_shape` and `_callless()`)."""

    _in_call_build = False  # a first call is running the user's build (see build)

    def _check_input_shape(self, inputs):
        super()._check_input_shape(inputs)
        # As TF, the first call's inputs are remembered: a model built by calling it (a
        # custom training loop) can then be saved, with these as its serving signature.
        self._called_input = (
            jax.tree_util.tree_map(lambda a: (None, *np.shape(a)[1:]), inputs),
            jax.tree_util.tree_map(lambda a: np.dtype(getattr(a, "dtype", None) or
                                                      np.asarray(a).dtype).name, inputs))

    def _input_spec_to_save(self):
        """(shapes, dtypes) the model is saved for: its built inputs, else its first call's
        (None when it has neither)."""
        if self._build_input_shape is not None:
            return self._build_input_shape, self._build_input_dtype
        return self._called_input or (None, None)

    def _build_on_call(self, input_shape):
        # A first call builds the layers as it runs; only an explicit model.build (or a
        # user's own build) fixes the input shape.
        if type(self).build is not BuildingMethods.build:
            self._in_call_build = True
            try:
                self.build(input_shape)
            finally:
                self._in_call_build = False

    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (None for the batch), as Keras'
        `model.build((None, 8))`; a list/dict of shapes for several inputs."""
        # A user's build ending in super().build(input_shape), reached from a first call:
        # that call runs call() next, building the layers (Keras 2 ran self.call here).
        if self._in_call_build or self._graph is not None or \
                self._build_input_shape is not None:
            self.built = True
            return
        is_shape = lambda s: isinstance(s, (tuple, list)) and all(
            d is None or isinstance(d, int) for d in s)
        spec = jax.tree_util.tree_map(
            lambda s: jax.ShapeDtypeStruct(tuple(1 if d is None else d for d in s),
                                           jnp.float32), input_shape, is_leaf=is_shape)
        self._prepare(spec)
        self.built = True
        self._built_for(input_shape)

    def _built_for(self, input_shape):
        """What a kind of model adds after `build(input_shape)` (Sequential connects)."""

    def _prepare(self, x):
        """Build the model for inputs like `x` (once), else check `x` fits it."""
        out = None  # the outputs' shapes, when building finds them
        checked = dense_view(x)  # ragged rows are checked as their padded form
        callless = self._callless()
        if self._build_input_shape is None:
            self._check_declared(checked)
            strategy = self.trainer.strategy if self.trainer is not None else \
                self._distribute_strategy
            # weights built now belong to the strategy, as in TF where fit enters its scope
            if not callless:
                with strategy.scope() if strategy is not None else \
                        contextlib.nullcontext():
                    out = _lifting.eval_shape(lambda inputs: self(inputs, training=False),
                                              shapes.abstract_inputs(x))
            self._build_input_shape = jax.tree_util.tree_map(
                lambda a: (None, *np.shape(a)[1:]), checked)
            self._build_input_dtype = jax.tree_util.tree_map(
                lambda a: np.dtype(a.dtype).name, shapes.abstract_inputs(checked))
        else:
            self._check_inputs(x)
        if self.trainer is not None and not callless:  # a subclass's outputs, named once
            self.trainer.settle_outputs(x, out)
            self.trainer.settle_added_metrics(x)

    def _check_declared(self, x):
        declared = self._declared_input_shape()
        if declared is not None:
            shapes.check_inputs(self, x, declared)

    def _declared_input_shape(self):
        return self._batch_input_shape

    def _check_inputs(self, x):
        x = dense_view(x)
        expected = self._build_input_shape
        declared = self._graph is not None or self._declared_input_shape() is not None
        if not declared:
            # Built from its first data, with no declared input shape (no Input or
            # input_shape): later data may have other sizes, as in TF (a model trained on
            # length-10 sequences predicts on length 12); a layer whose weights depend on
            # a size refuses it itself. The number and the ranks of inputs still hold.
            expected = jax.tree_util.tree_map(lambda s: (None,) * len(s), expected,
                                              is_leaf=lambda s: isinstance(s, tuple))
        shapes.check_inputs(self, x, expected, conformed=declared)

    def output_units(self):
        """The size of the (first) output's last axis (for label checks)."""
        if self._graph is not None:  # the graph knows it (its Inputs may be strings)
            units = jax.tree_util.tree_leaves(self._graph.outputs, is_leaf=is_symbolic)[0]
            if units.shape and units.shape[-1] is not None:
                return int(units.shape[-1])
        spec = jax.tree_util.tree_map(
            lambda s: jax.ShapeDtypeStruct(
                (1, *(symbolic.VARYING[0] if d is None else d for d in s[1:])), jnp.float32),
            self._build_input_shape,
            is_leaf=lambda s: isinstance(s, tuple))
        out = _lifting.eval_shape(lambda inputs: self(inputs, training=False), spec)
        return int(jax.tree_util.tree_leaves(out)[0].shape[-1])
