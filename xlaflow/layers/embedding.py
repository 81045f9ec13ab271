"""Embedding: integer indices to rows of a trainable table."""

from __future__ import annotations

import jax.numpy as jnp

from xlaflow import initializers as initializers_lib
from xlaflow.layers.base import Layer


class Embedding(Layer):
    """`embeddings[inputs]`: (batch, ...) int indices -> (batch, ..., output_dim)."""

    _penalty_arguments = ("embeddings_regularizer", "activity_regularizer",
                          "embeddings_constraint")  # None only

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        if mask_zero:
            raise NotImplementedError("Embedding(mask_zero=True): masking is not supported "
                                      "yet; pass sample weights that zero the padded steps")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        initializer = "random_uniform" if embeddings_initializer == "uniform" else \
            embeddings_initializer
        self.embeddings_initializer = initializers_lib.get(initializer)

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer)
        self.built = True

    def call(self, inputs):
        return jnp.take(self.embeddings.value, jnp.asarray(inputs).astype(jnp.int32), axis=0)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": initializers_lib.serialize(
                    self.embeddings_initializer),
                "mask_zero": False}
