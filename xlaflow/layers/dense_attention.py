"""Keras 2's dense attention layers, Attention (Luong: dot or concat scores) and
AdditiveAttention (Bahdanau), called on `[query, value]` or `[query, value, key]`.

Masked as tf.keras 2.12's BaseDenseAttention: a value mask and the causal mask subtract
1e9 (float16: 65504) from the scores of the keys they hide, the softmax (with dropout in
training) weighs the values, and the query mask zeroes the output rows it hides.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import _eager_nn
from xlaflow.layers import keras_mask
from xlaflow.layers.base import Layer
from xlaflow.random import SeedGenerator, drawn_flat


def _is_shape(shape):
    return isinstance(shape, (tuple, list)) and all(
        d is None or isinstance(d, int) for d in shape)


class _BaseDenseAttention(Layer):
    """The scoring-independent part: argument checks, masks, softmax, dropout, output.

    Subclasses define `_calculate_scores(query, key)` -> (batch..., Tq, Tv) and may make
    weights in `_make_weights(query_shape, value_shape, key_shape)`.
    """

    supports_masking = True  # compute_mask: the query's mask
    _compute_output_and_mask_jointly = True  # call attaches it to the output, not the scores

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        # Keras 2.12 still reads the deprecated `causal=` of older configs
        self.causal = bool(kwargs.pop("causal", False))
        super().__init__(**kwargs)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or \
                not 0 <= dropout < 1:
            raise ValueError(f"{type(self).__name__}: dropout must be a number in [0, 1); "
                             f"received {dropout!r}")
        self.dropout = float(dropout)
        self.seed = seed
        # Keras 2 makes no random state when dropout is 0: the layer stays stateless
        self.seed_generator = SeedGenerator(seed, name=f"{self.name}/seed_generator") \
            if self.dropout else None

    # -- checks (before any weight is made) -------------------------------------------------
    def _checked_shapes(self, input_shape):
        """(query, value, key) shapes from a list of 2 or 3 shapes, checked as Keras 2's
        _validate_call_args plus the sizes the scores and the output need."""
        cls = type(self).__name__
        if _is_shape(input_shape) or not isinstance(input_shape, (list, tuple)):
            raise ValueError(f"{self.name} ({cls}): inputs must be a list [query, value] or "
                             f"[query, value, key]; received one tensor of shape "
                             f"{tuple(input_shape) if _is_shape(input_shape) else input_shape}")
        if not 2 <= len(input_shape) <= 3:
            raise ValueError(f"{self.name} ({cls}): inputs must be a list of length 2 or 3, "
                             f"[query, value] or [query, value, key]; received length "
                             f"{len(input_shape)}")
        shapes = [tuple(s) for s in input_shape]
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) == 3 else value
        named = {"query": query, "value": value, "key": key}
        for name, shape in named.items():
            if len(shape) < 3:
                raise ValueError(f"{self.name} ({cls}): {name} must have rank >= 3 (batch, "
                                 f"steps, features); received shape {shape}")
        if not (len(query) == len(value) == len(key)) or \
                not _same(query[:-2], value[:-2]) or not _same(key[:-1], value[:-1]):
            raise ValueError(f"{self.name} ({cls}): query, value and key must share their "
                             f"batch axes, and key and value their steps; received query "
                             f"{query}, value {value}, key {key}")
        if not _same(query[-1:], key[-1:]):
            raise ValueError(f"{self.name} ({cls}): the query's and the key's last "
                             f"dimensions must be equal; received query {query}, key {key}")
        return query, value, key

    def _masks(self, inputs, mask):
        """(query mask, value mask), each checked against its input (the key's is unused,
        as in Keras 2)."""
        cls = type(self).__name__
        if mask is None:
            return None, None
        if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= len(inputs):
            raise ValueError(f"{self.name} ({cls}): mask must be a list [query_mask, "
                             f"value_mask] (at most one entry per input); received {mask!r}")
        out = []
        for name, x, m in (("query", inputs[0], mask[0]), ("value", inputs[1], mask[1])):
            if m is not None:
                want = tuple(jnp.shape(x)[:-1])
                if tuple(jnp.shape(m)) != want:
                    raise ValueError(f"{self.name} ({cls}): the {name} mask must have the "
                                     f"{name}'s shape without its feature axis, {want}; "
                                     f"received {tuple(jnp.shape(m))}")
                m = jnp.asarray(m, bool)
            out.append(m)
        return tuple(out)

    # -- building and calling ---------------------------------------------------------------
    def build(self, input_shape):
        query, value, key = self._checked_shapes(input_shape)
        self._make_weights(query, value, key)
        self.built = True

    def _make_weights(self, query, value, key):
        """No weights by default."""

    def call(self, inputs, mask=None, training=None, return_attention_scores=False,
             use_causal_mask=False):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else inputs
        self._checked_shapes(jax.tree_util.tree_map(lambda x: tuple(jnp.shape(x)), inputs))
        query_mask, value_mask = self._masks(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        scores = self._calculate_scores(query, key)
        hidden = None  # True where a key is hidden from a query
        if value_mask is not None:
            hidden = ~value_mask[..., None, :]
        if self.causal or use_causal_mask:
            # query step i sees the keys at steps <= i (Keras' lower-triangular mask)
            later = ~jnp.tril(jnp.ones(scores.shape[-2:], bool))
            hidden = later if hidden is None else hidden | later
        if hidden is not None:
            # subtracted, not replaced, exactly as Keras 2 (65504: float16's largest value)
            big = 65504.0 if scores.dtype == jnp.float16 else 1.0e9
            scores = scores - jnp.asarray(big, scores.dtype) * hidden.astype(scores.dtype)
        weights = _eager_nn.softmax(scores, axis=-1)
        if training and self.dropout:
            key = self.seed_generator.next()
            keep = drawn_flat(lambda k, s: jax.random.bernoulli(k, 1 - self.dropout, s),
                              key, weights.shape)
            weights = jnp.where(keep, weights / (1 - self.dropout), 0.0).astype(scores.dtype)
        result = jnp.matmul(weights, value)
        if query_mask is not None:
            result = result * query_mask[..., None].astype(result.dtype)
        keras_mask.set_mask(result, query_mask)  # Keras 2's compute_mask: the query's
        # Keras 2 returns the weights after dropout (unlike MultiHeadAttention)
        return (result, weights) if return_attention_scores else result

    def compute_mask(self, inputs, mask=None):
        """The output's mask: the query's (Keras 2)."""
        query_mask, _ = self._masks(list(inputs), mask)
        return query_mask

    def get_config(self):
        config = {**super().get_config(), "dropout": self.dropout, "seed": self.seed}
        if self.causal:
            config["causal"] = True
        return config


def _same(a, b):
    """Whether two shapes agree where both sizes are known (None: unknown)."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


class Attention(_BaseDenseAttention):
    """Luong-style attention: softmax(scores) @ value, the scores `query @ key^T` (times a
    learned scalar `scale` when use_scale) for score_mode="dot", or for "concat"
    `concat_score_weight * reduce_sum(tanh(scale * (query_i + key_j)), -1)`.

    Call: `layer([query, value(, key)], mask=[query_mask, value_mask], training=None,
    return_attention_scores=False, use_causal_mask=False)`.
    """

    def __init__(self, use_scale=False, score_mode="dot", **kwargs):
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention: score_mode must be 'dot' or 'concat'; received "
                             f"{score_mode!r}")
        super().__init__(**kwargs)
        self.use_scale, self.score_mode = bool(use_scale), score_mode
        self.scale = self.concat_score_weight = None

    def _make_weights(self, query, value, key):
        if self.use_scale:
            self.scale = self.add_weight("scale", (), initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (),
                                                       initializer="ones")

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = jnp.matmul(query, jnp.swapaxes(key, -1, -2))
            return scores if self.scale is None else scores * self.scale.value
        pairs = query[..., :, None, :] + key[..., None, :, :]  # (batch, Tq, Tv, dim)
        if self.scale is not None:
            pairs = self.scale.value * pairs
        return self.concat_score_weight.value * jnp.sum(jnp.tanh(pairs), axis=-1)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale,
                "score_mode": self.score_mode}


class AdditiveAttention(_BaseDenseAttention):
    """Bahdanau-style attention: softmax(scores) @ value with scores
    `reduce_sum(scale * tanh(query_i + key_j), -1)`; `scale` is a learned vector of the
    value's feature size (glorot_uniform) when use_scale, else 1.

    Call: as Attention's.
    """

    def __init__(self, use_scale=True, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)
        self.scale = None

    def _make_weights(self, query, value, key):
        if not self.use_scale:
            return
        if not _same(value[-1:], key[-1:]):
            # Keras sizes the scale by the value, but it multiplies tanh(query + key)
            raise ValueError(f"{self.name} (AdditiveAttention): with use_scale the value's "
                             f"last dimension must equal the key's; received value {value}, "
                             f"key {key}")
        self.scale = self.add_weight("scale", (value[-1],), initializer="glorot_uniform")

    def _calculate_scores(self, query, key):
        tanh = jnp.tanh(query[..., :, None, :] + key[..., None, :, :])
        return jnp.sum(tanh if self.scale is None else self.scale.value * tanh, axis=-1)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale}
