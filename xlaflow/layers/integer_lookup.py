"""Keras 2's IntegerLookup: integer values to vocabulary indices, learned by adapt().

Integers are jax arrays, so unlike StringLookup the lookup runs inside the program (a sorted
table and searchsorted), in fit, xf.function and an exported model alike.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from xlaflow.layers import lookup_encoding
from xlaflow.layers.base import Layer

_MODES = ("int", "one_hot", "multi_hot", "count")


def _ints(values, what):
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise ValueError(f"IntegerLookup: {what} must be integers; received dtype "
                         f"{array.dtype}")
    return array.astype(np.int64).reshape(-1)


class IntegerLookup(Layer):
    """Index of each value in the vocabulary, after the mask index (0, when mask_token is
    set) and the OOV indices (an unknown value's: value mod num_oov_indices), as Keras 2
    numbers them: adapt() orders values by frequency, ties by the larger value first.
    Output ids are int32 (int64 in TF), like xf.argmax."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_oov_indices, bool) or not isinstance(
                num_oov_indices, (int, np.integer)) or num_oov_indices < 0:
            raise ValueError(f"IntegerLookup: num_oov_indices must be an int >= 0; received "
                             f"num_oov_indices={num_oov_indices!r}")
        if num_oov_indices == 0:
            raise NotImplementedError(
                "IntegerLookup(num_oov_indices=0): Keras raises on an out-of-vocabulary value "
                "at run time, which a compiled program cannot; use num_oov_indices=1 (or "
                "more) and check the ids for the OOV index")
        if invert or idf_weights is not None or sparse or pad_to_max_tokens:
            raise NotImplementedError(
                "IntegerLookup(invert, idf_weights, sparse, pad_to_max_tokens) are not "
                "implemented; invert with np.asarray(layer.get_vocabulary())[ids]")
        if output_mode not in _MODES:
            raise ValueError(f"IntegerLookup: output_mode must be one of {_MODES}; received "
                             f"{output_mode!r}")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <
                                       num_oov_indices + (mask_token is not None) + 1):
            raise ValueError(f"IntegerLookup: max_tokens must be None or an int counting the "
                             f"mask and OOV tokens and at least one value; received "
                             f"{max_tokens!r}")
        self.max_tokens, self.num_oov_indices = max_tokens, int(num_oov_indices)
        self.mask_token, self.oov_token = mask_token, int(oov_token)
        self.vocabulary_dtype, self.output_mode = vocabulary_dtype, output_mode
        self._values = np.zeros((0,), np.int64)  # learned values, in index order
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def _mask_reserved(self):
        # Keras 2 reserves index 0 for the mask in int mode only; encoded modes drop it
        return self.mask_token is not None and self.output_mode == "int"

    def _token_start(self):
        return self._mask_reserved() + self.num_oov_indices

    def set_vocabulary(self, vocabulary):
        """The learned values, in index order (without the mask and OOV tokens)."""
        values = _ints(vocabulary, "vocabulary")
        if len(np.unique(values)) != len(values):
            raise ValueError(f"IntegerLookup: vocabulary has repeated values: "
                             f"{values.tolist()}")
        reserved = {self.oov_token} | ({self.mask_token} if self.mask_token is not None
                                       else set())
        if reserved & set(values.tolist()):
            raise ValueError(f"IntegerLookup: vocabulary must not hold the mask or OOV tokens "
                             f"{sorted(reserved)}; received {values.tolist()}")
        if self.max_tokens is not None and len(values) + self._token_start() > self.max_tokens:
            raise ValueError(f"IntegerLookup: a vocabulary of {len(values)} values and "
                             f"{self._token_start()} reserved tokens exceeds max_tokens="
                             f"{self.max_tokens}")
        self._values = values

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from `data` (an array, or an iterable of batches): the most
        frequent values first, up to max_tokens."""
        batches = [data] if hasattr(data, "shape") else list(data)
        values = np.concatenate([_ints(b, "adapt data") for b in batches]) if batches else \
            np.zeros((0,), np.int64)
        if self.mask_token is not None:
            values = values[values != self.mask_token]
        tokens, counts = np.unique(values[values != self.oov_token], return_counts=True)
        self._values = lookup_encoding.rank_vocabulary(
            tokens, counts, None if self.max_tokens is None else
            self.max_tokens - self._token_start())

    def get_vocabulary(self, include_special_tokens=True):
        special = ([self.mask_token] if self._mask_reserved() else []) + \
            [self.oov_token] * self.num_oov_indices
        return (special if include_special_tokens else []) + self._values.tolist()

    def vocabulary_size(self):
        return len(self._values) + self._token_start()

    def call(self, inputs):
        x = jnp.asarray(inputs)
        if not jnp.issubdtype(x.dtype, jnp.integer):
            raise ValueError(f"IntegerLookup: inputs must be integers; received dtype "
                             f"{x.dtype}")
        order = np.argsort(self._values, kind="stable")
        table = jnp.asarray(self._values[order], x.dtype)
        index = jnp.asarray(order + self._token_start(), jnp.int32)
        # an unknown value's OOV index: Keras 2 takes floormod(value, num_oov_indices)
        # within the OOV block (integers are not hashed, unlike StringLookup's strings)
        oov_start = self._token_start() - self.num_oov_indices
        oov = oov_start + jnp.mod(x, self.num_oov_indices).astype(jnp.int32) \
            if self.num_oov_indices > 1 else jnp.full(x.shape, oov_start, jnp.int32)
        if table.shape[0]:
            pos = jnp.clip(jnp.searchsorted(table, x), 0, table.shape[0] - 1)
            ids = jnp.where(table[pos] == x, index[pos], oov)
        else:
            ids = oov
        if self.mask_token is not None:  # index 0 in int mode, else counted nowhere
            ids = jnp.where(x == self.mask_token, 0 if self._mask_reserved() else -1, ids)
        ids = ids.astype(jnp.int32)
        if self.output_mode == "int":
            return ids
        return lookup_encoding.encode(ids, self.output_mode, self.vocabulary_size())

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return input_shape
        shape = tuple(input_shape)
        if self.output_mode != "one_hot" or (shape and shape[-1] == 1):
            shape = shape[:-1]  # the encoded axis replaces the values' last one
        return (*shape, self.vocabulary_size())

    def get_config(self):
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "mask_token": self.mask_token,
                "oov_token": self.oov_token, "vocabulary": self._values.tolist(),
                "vocabulary_dtype": self.vocabulary_dtype, "output_mode": self.output_mode,
                # Keras 2's arguments, which only take their defaults here
                "idf_weights": None, "invert": False, "sparse": False,
                "pad_to_max_tokens": False}

