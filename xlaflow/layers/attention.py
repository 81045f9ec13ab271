"""MultiHeadAttention (Keras' layout: per-head projection kernels and an output kernel)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from xlaflow import initializers as initializers_lib
from xlaflow.layers.base import Layer
from xlaflow.random import SeedGenerator


class MultiHeadAttention(Layer):
    """`layer(query, value, key=None, attention_mask=None)`: scaled dot-product attention
    over `num_heads` heads of size `key_dim`, projected back to the query's feature size."""

    _penalty_arguments = ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                          "kernel_constraint", "bias_constraint")

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim is not None else self.key_dim
        self.dropout, self.use_bias = float(dropout), bool(use_bias)
        self.output_size = _output_size(output_shape)
        self.kernel_initializer = initializers_lib.get(kernel_initializer)
        self.bias_initializer = initializers_lib.get(bias_initializer)
        self.seed = seed
        self.seed_generator = SeedGenerator(seed, name=f"{self.name}/seed_generator") \
            if self.dropout else None
        self.projections = None

    def build(self, input_shape):
        self.built = True  # the weights depend on value's shape too: made on first call

    def _make_weights(self, query, value, key):
        heads = self.num_heads

        def dense(name, fan_in, head_size):
            kernel = self.add_weight(f"{name}/kernel", (fan_in, heads, head_size),
                                     initializer=self.kernel_initializer)
            bias = self.add_weight(f"{name}/bias", (heads, head_size),
                                   initializer=self.bias_initializer) if self.use_bias else None
            return kernel, bias

        out_size = self.output_size or query.shape[-1]
        self.projections = {"query": dense("query", query.shape[-1], self.key_dim),
                            "key": dense("key", key.shape[-1], self.key_dim),
                            "value": dense("value", value.shape[-1], self.value_dim)}
        self.output_kernel = self.add_weight("attention_output/kernel",
                                             (heads, self.value_dim, out_size),
                                             initializer=self.kernel_initializer)
        self.output_bias = self.add_weight("attention_output/bias", (out_size,),
                                           initializer=self.bias_initializer) \
            if self.use_bias else None

    def _project(self, name, x):
        kernel, bias = self.projections[name]
        out = jnp.einsum("...d,dhk->...hk", x, kernel.value)
        return out if bias is None else out + bias.value

    def call(self, query, value, key=None, attention_mask=None, return_attention_scores=False,
             training=None):
        key = value if key is None else key
        if self.projections is None:
            with jax.ensure_compile_time_eval():
                self._make_weights(query, value, key)
        q = self._project("query", query) / math.sqrt(self.key_dim)
        k = self._project("key", key)
        v = self._project("value", value)
        scores = jnp.einsum("...qhd,...khd->...hqk", q, k)
        if attention_mask is not None:
            mask = jnp.asarray(attention_mask, bool)[..., None, :, :]
            scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
        weights = probabilities = jax.nn.softmax(scores, axis=-1)
        if training and self.dropout:
            keep = jax.random.bernoulli(self.seed_generator.next(), 1 - self.dropout,
                                        weights.shape)
            weights = jnp.where(keep, weights / (1 - self.dropout), 0.0)
        context = jnp.einsum("...hqk,...khd->...qhd", weights, v)
        out = jnp.einsum("...qhd,hdo->...qo", context, self.output_kernel.value)
        if self.output_bias is not None:
            out = out + self.output_bias.value
        # Keras 2 returns the softmax before dropout: the scores sum to 1 over the keys.
        return (out, probabilities) if return_attention_scores else out

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout,
                "use_bias": self.use_bias, "output_shape": self.output_size,
                "kernel_initializer": initializers_lib.serialize(self.kernel_initializer),
                "bias_initializer": initializers_lib.serialize(self.bias_initializer),
                "seed": self.seed}


def _output_size(output_shape):
    """The output's feature size: None (the query's), an int, or a 1-tuple as Keras allows;
    the projection has one output axis, so longer shapes are refused here, not at build."""
    if output_shape is None:
        return None
    if not isinstance(output_shape, (list, tuple)):
        return int(output_shape)
    if len(output_shape) == 1:
        return int(output_shape[0])
    raise NotImplementedError(f"MultiHeadAttention: output_shape must be an int or a 1-tuple; "
                              f"received {output_shape!r}")
