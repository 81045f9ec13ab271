"""MultiHeadAttention (Keras' layout: per-head projection kernels and an output kernel),
masked as tf.keras (TF >= 2.10): padding masks of its inputs, attention_mask, causal."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from xlaflow import _eager_nn
from xlaflow import initializers as initializers_lib
from xlaflow.layers import keras_mask
from xlaflow.layers.base import Layer
from xlaflow.layers.input_casting import cast_floating
from xlaflow.random import SeedGenerator, drawn_flat


class MultiHeadAttention(Layer):
    """`layer(query, value, key=None, attention_mask=None, use_causal_mask=False)`: scaled
    dot-product attention over `num_heads` heads of size `key_dim`, projected back to the
    query's feature size.

    Masks as tf.keras (TF >= 2.10): a query attends to a key where every one of these
    allows it (logical and): `attention_mask` (batch, T, S); the padding masks the query,
    value and key carry (Embedding(mask_zero=True), Masking; the key's is the value's when
    key is None); and with `use_causal_mask`, only keys at or before its own step. The
    output carries the query's mask.
    """

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

    supports_masking = True  # compute_mask: the query's mask
    _compute_output_and_mask_jointly = True  # call attaches it: the scores take no mask

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
             training=None, use_causal_mask=False):
        query_mask, value_mask = keras_mask.get_mask(query), keras_mask.get_mask(value)
        # Keras casts each projection's input to the compute dtype (float16 under
        # mixed_float16); the base class casts only the first argument, the query
        value = cast_floating(jnp.asarray(value), self.compute_dtype)
        if key is None:  # the value is the key: its mask is applied once, as the value's
            key, key_mask = value, None
        else:
            key_mask = keras_mask.get_mask(key)  # (read before the cast makes a new array)
            key = cast_floating(jnp.asarray(key), self.compute_dtype)
        # checked before the first call creates the weights
        allowed = self._allowed(query, value, key, attention_mask, use_causal_mask,
                                (query_mask, value_mask, key_mask))
        if self.projections is None:
            with jax.ensure_compile_time_eval():
                self._make_weights(query, value, key)
        q = self._project("query", query) / math.sqrt(self.key_dim)
        k = self._project("key", key)
        v = self._project("value", value)
        scores = jnp.einsum("...qhd,...khd->...hqk", q, k)
        if allowed is not None:
            # Keras' Softmax(mask) pushes masked logits to -1e9 (float16: its lowest value);
            # replaced, not added, so a row with every key masked (a padded query) stays
            # finite in float16 too: it averages all values, as Keras' row of equal logits.
            low = jnp.finfo(jnp.float16).min if scores.dtype == jnp.float16 else -1e9
            scores = jnp.where(allowed[..., None, :, :], scores,
                               jnp.asarray(low, scores.dtype))
        weights = probabilities = _eager_nn.softmax(scores, axis=-1)
        if training and self.dropout:
            key = self.seed_generator.next()
            keep = drawn_flat(lambda k, s: jax.random.bernoulli(k, 1 - self.dropout, s),
                              key, weights.shape)
            weights = jnp.where(keep, weights / (1 - self.dropout), 0.0)
        context = jnp.einsum("...hqk,...khd->...qhd", weights, v)
        out = jnp.einsum("...qhd,hdo->...qo", context, self.output_kernel.value)
        if self.output_bias is not None:
            out = out + self.output_bias.value
        keras_mask.set_mask(out, query_mask)  # as Keras 2's compute_mask: the query's mask
        # Keras 2 returns the softmax before dropout: the scores sum to 1 over the keys.
        return (out, probabilities) if return_attention_scores else out

    def compute_mask(self, query, mask=None):
        """The output's mask: the query's (Keras 2 passes the first input's mask on)."""
        return mask

    def _allowed(self, query, value, key, attention_mask, use_causal_mask, masks):
        """The (batch..., T, S) bool mask of the keys each query attends to, or None: the
        logical and of the inputs' padding masks, `attention_mask` and the causal mask
        (Keras 2's _compute_attention_mask). Shapes are checked against the inputs."""
        if jnp.shape(key)[:-1] != jnp.shape(value)[:-1]:
            raise ValueError(f"{self.name} (MultiHeadAttention): key and value must have the "
                             f"same batch and sequence shape; received key "
                             f"{tuple(jnp.shape(key))}, value {tuple(jnp.shape(value))}")
        batch, steps = tuple(jnp.shape(query)[:-2]), jnp.shape(query)[-2]
        keys = jnp.shape(value)[-2]
        allowed = None
        for name, x, mask, expand in (("query", query, masks[0], -1),
                                      ("value", value, masks[1], -2),
                                      ("key", key, masks[2], -2)):
            if mask is None:
                continue
            want = tuple(jnp.shape(x)[:-1])
            if tuple(jnp.shape(mask)) != want:
                raise ValueError(
                    f"{self.name} (MultiHeadAttention): the {name}'s mask must have the "
                    f"{name}'s shape without its feature axis, {want}; received "
                    f"{tuple(jnp.shape(mask))}")
            allowed = _and(allowed, jnp.expand_dims(jnp.asarray(mask, bool), expand))
        if use_causal_mask:
            # a query at step i sees the keys at steps <= i (tf.linalg.band_part(-1, 0))
            allowed = _and(allowed, jnp.tril(jnp.ones((steps, keys), bool)))
        if attention_mask is not None:
            want = (*batch, steps, keys)
            shape = tuple(jnp.shape(attention_mask))
            try:
                fits = jnp.broadcast_shapes(shape, want) == want
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"{self.name} (MultiHeadAttention): attention_mask must have shape "
                    f"(batch, T, S) = {want} (or one that broadcasts to it); received {shape}")
            allowed = _and(allowed, jnp.asarray(attention_mask, bool))
        return allowed

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout,
                "use_bias": self.use_bias, "output_shape": self.output_size,
                "kernel_initializer": initializers_lib.serialize(self.kernel_initializer),
                "bias_initializer": initializers_lib.serialize(self.bias_initializer),
                "seed": self.seed}


def _and(mask, other):
    """`mask & other`, or `other` where there is no mask yet."""
    return other if mask is None else mask & other


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
