"""Keras 2's categorical preprocessing layers: Discretization (bucket ids) and
CategoryEncoding (one-hot, multi-hot, counts).

They compute inside the program (no host round trip), so they work in fit, in
xf.function and in an exported model alike.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow.layers import lookup_encoding
from xlaflow.layers.base import Layer


class Discretization(Layer):
    """Bucket ids of `bin_boundaries` (sorted): x < b[0] -> 0, b[i-1] <= x < b[i] -> i, as
    TF's Bucketize; int64 in TF, int32 here (like xf.argmax). `num_bins` with adapt() (the
    quantiles of data) is not provided."""

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01,
                 output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if bin_boundaries is None or num_bins is not None:
            raise NotImplementedError(
                "Discretization(num_bins=...) learns boundaries with adapt(), which is not "
                "implemented; compute them (e.g. np.quantile) and pass bin_boundaries")
        if output_mode != "int" or sparse:
            raise NotImplementedError(
                f"Discretization(output_mode={output_mode!r}, sparse={sparse!r}): only "
                "output_mode='int', dense; follow it with CategoryEncoding for one-hot")
        boundaries = [float(b) for b in bin_boundaries]
        if boundaries != sorted(boundaries):
            raise ValueError(f"Discretization: bin_boundaries must be sorted; received "
                             f"{boundaries}")
        self.bin_boundaries, self.epsilon = boundaries, epsilon
        self.output_mode, self.sparse = output_mode, sparse

    def call(self, inputs):
        edges = jnp.asarray(self.bin_boundaries, jnp.float32)
        return jnp.searchsorted(edges, jnp.asarray(inputs, jnp.float32),
                                side="right").astype(jnp.int32)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries, "num_bins": None,
                "epsilon": self.epsilon, "output_mode": self.output_mode,
                "sparse": self.sparse}


_MODES = ("one_hot", "multi_hot", "count")


class CategoryEncoding(Layer):
    """Integer ids in [0, num_tokens) as one-hot, multi-hot or count vectors of length
    `num_tokens` (Keras 2): `one_hot` encodes each id, the others the ids of the last axis
    together; `count_weights` weighs the counts."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_tokens, int) or isinstance(num_tokens, bool) or num_tokens < 1:
            raise ValueError(f"CategoryEncoding: num_tokens must be a positive int; received "
                             f"{num_tokens!r}")
        if output_mode not in _MODES:
            raise ValueError(f"CategoryEncoding: output_mode must be one of {_MODES}; "
                             f"received {output_mode!r}")
        self.num_tokens, self.output_mode, self.sparse = num_tokens, output_mode, \
            bool(sparse)

    def call(self, inputs, count_weights=None):
        dense = self._dense(inputs, count_weights)
        return lookup_encoding.sparse_output("CategoryEncoding", dense) if self.sparse \
            else dense

    def _dense(self, inputs, count_weights):
        ids = jnp.asarray(inputs)
        if not jnp.issubdtype(ids.dtype, jnp.integer):
            ids = ids.astype(jnp.int32)
        if not isinstance(ids, jax.core.Tracer) and ids.size and \
                not (0 <= int(ids.min()) and int(ids.max()) < self.num_tokens):
            # (checked on concrete values; in a compiled program such an id encodes as 0s)
            raise ValueError(f"CategoryEncoding: input ids must be in [0, {self.num_tokens})"
                             f"; received values from {int(ids.min())} to {int(ids.max())}")
        if self.output_mode == "one_hot":
            if ids.ndim and ids.shape[-1] == 1:  # (batch, 1) ids: one vector each, as Keras
                ids = ids[..., 0]
            return jax.nn.one_hot(ids, self.num_tokens, dtype=jnp.float32)
        ids = ids.reshape(1) if ids.ndim == 0 else ids
        # the last axis holds one sample's ids: a rank-1 input is one sample, as in Keras 2
        hot = jax.nn.one_hot(ids, self.num_tokens, dtype=jnp.float32)  # [..., n, tokens]
        if self.output_mode == "multi_hot":
            return jnp.max(hot, axis=-2)
        if count_weights is not None:
            hot = hot * jnp.reshape(jnp.asarray(count_weights, jnp.float32),
                                    (*ids.shape, 1))
        return jnp.sum(hot, axis=-2)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.num_tokens)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens,
                "output_mode": self.output_mode, "sparse": self.sparse}
