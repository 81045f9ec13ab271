"""Embedding: integer indices to rows of a trainable table."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import initializers as initializers_lib
from xlaflow.layers.base import Layer


class Embedding(Layer):
    """`embeddings[inputs]`: (batch, ...) int indices -> (batch, ..., output_dim).
    With `mask_zero=True`, index 0 is padding: the output's mask is `inputs != 0`.

    Indices must lie in [0, input_dim). Concrete (eager, NumPy) indices outside it raise a
    ValueError, as TF does on CPU. Traced indices (inside xf.function, fit, predict) cannot be
    checked without a host round trip: an index outside the range, negative ones included,
    gives a row of NaN there, so a bad index shows up in the loss instead of reading another
    row.
    """

    _per_value = "values"  # a RaggedTensor keeps its rows (ragged_calls)

    _penalty_arguments = ("embeddings_regularizer", "activity_regularizer",
                          "embeddings_constraint")

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 mask_zero=False, input_length=None, **kwargs):
        if input_length is not None and not (isinstance(input_length, int)
                                             and input_length > 0):
            raise ValueError("Embedding: input_length must be a positive int or None; "
                             f"received {input_length!r}")
        # Keras 2: the input shape is declared, (input_length,) or else (None,) (any
        # sequence length), so that a Sequential model starting with the Embedding is built
        # at once: summary() before any data, Flatten after it with input_length
        if "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self._declared_input_dtype = "int32"  # token ids, as a model built from data has
        self.input_length = input_length
        self.mask_zero = bool(mask_zero)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = initializers_lib.get(embeddings_initializer)

    def _check_input_shape(self, inputs):
        # The declaration from input_length (or the default (None,)) only lets a Sequential
        # led by the Embedding build at once; as in Keras 2 the layer itself takes ids of
        # any shape (positions inside a custom layer; word2vec's Embedding(input_length=1)
        # looks up a [batch] vector of targets). A from_config'd one has the same shape.
        if self._batch_input_shape != (None, self.input_length):
            super()._check_input_shape(inputs)

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer)
        self.built = True

    def call(self, inputs):
        if not isinstance(inputs, jax.core.Tracer):
            self._check_indices(np.asarray(inputs))
        indices = jnp.asarray(inputs).astype(jnp.int32)
        # A negative index would count from the end (-1: the last row); out of range instead,
        # it is NaN-filled like the indices past the end.
        indices = jnp.where(indices < 0, self.input_dim, indices)
        return jnp.take(self.embeddings.value, indices, axis=0, mode="fill",
                        fill_value=jnp.nan)

    def compute_mask(self, inputs, mask=None):
        """With mask_zero, index 0 is padding: the mask is `inputs != 0` (Keras 2); else
        None."""
        if not self.mask_zero:
            return None
        return jnp.not_equal(jnp.asarray(inputs), 0)

    def _check_indices(self, indices):
        # Checked before the int32 cast, which could wrap an int64 index into the range.
        bad = indices[(indices < 0) | (indices >= self.input_dim)]
        if bad.size:
            shown = np.unique(bad)[:10].tolist()
            raise ValueError(f"{self.name}: indices must be in [0, input_dim={self.input_dim})"
                             f"; received out-of-range values {shown}"
                             f"{' (and more)' if np.unique(bad).size > 10 else ''}")

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": initializers_lib.serialize(
                    self.embeddings_initializer),
                "mask_zero": self.mask_zero, "input_length": self.input_length}
