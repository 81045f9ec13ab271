"""Keras 2's IntegerLookup: integer values to vocabulary indices, learned by adapt().

Integers are jax arrays, so unlike StringLookup the lookup runs inside the program (a sorted
table and searchsorted; invert=True gathers from the vocabulary), in fit, xf.function and an
exported model alike. Special tokens, idf weights and encodings follow lookup_encoding.py.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

from xlaflow.layers import lookup_encoding
from xlaflow.layers.base import Layer
from xlaflow.ragged_math import rebuild
from xlaflow.ragged_tensor import RaggedTensor


def _ints(values, what):
    array = np.asarray(values)
    if array.dtype.kind not in "iu" and array.size:  # np.array([]) is float64
        raise ValueError(f"IntegerLookup: {what} must be integers; received dtype "
                         f"{array.dtype}")
    return array.astype(np.int64).reshape(-1)


def _vocabulary_values(vocabulary):
    """A given vocabulary as int64 values: a list or array, or (as Keras 2 documents) the
    path of a text file with one integer per line. Empty is refused, as Keras 2."""
    if isinstance(vocabulary, (str, os.PathLike)):
        path = os.fspath(vocabulary)
        if not os.path.isfile(path):
            raise ValueError(f"IntegerLookup: vocabulary file {path!r} does not exist")
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for number, line in enumerate(lines, 1):
            try:
                int(line)
            except ValueError:
                raise ValueError(f"IntegerLookup: vocabulary file {path!r} must hold one "
                                 f"integer per line; line {number} is {line!r}") from None
        vocabulary = np.asarray([int(line) for line in lines], np.int64)
    if np.size(vocabulary) == 0:
        raise ValueError(f"IntegerLookup: cannot set an empty vocabulary; received "
                         f"vocabulary={vocabulary!r}")
    return _ints(vocabulary, "vocabulary")


class IntegerLookup(Layer):
    """Index of each value in the vocabulary, after the mask index (0, when mask_token is
    set) and the OOV indices (an unknown value's: value mod num_oov_indices), as Keras 2
    numbers them: adapt() orders values by frequency, ties by the larger value first.
    Output ids are int32 (int64 in TF), like xf.argmax; invert=True maps ids back to values
    (an OOV or unknown id to oov_token, id 0 to mask_token when it is set)."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False, **kwargs):
        output_mode = lookup_encoding.check_options(
            "IntegerLookup", output_mode, num_oov_indices, invert, idf_weights, vocabulary,
            pad_to_max_tokens, max_tokens, sparse)
        if num_oov_indices == 0 and not invert:  # an inverse lookup never checks (Keras 2)
            raise NotImplementedError(
                "IntegerLookup(num_oov_indices=0): Keras raises on an out-of-vocabulary value "
                "at run time, which a compiled program cannot; use num_oov_indices=1 (or "
                "more) and check the ids for the OOV index")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <
                                       num_oov_indices + (mask_token is not None) + 1):
            raise ValueError(f"IntegerLookup: max_tokens must be None or an int counting the "
                             f"mask and OOV tokens and at least one value; received "
                             f"{max_tokens!r}")
        # Keras 2: a layer constructed with a vocabulary is never adapted (a config says
        # whether its vocabulary was given or learned)
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        super().__init__(**kwargs)  # after the checks: a refused layer takes no name
        self._has_input_vocabulary = bool(has_input_vocabulary)
        self.max_tokens, self.num_oov_indices = max_tokens, int(num_oov_indices)
        self.mask_token, self.oov_token = mask_token, int(oov_token)
        self.vocabulary_dtype, self.output_mode = vocabulary_dtype, output_mode
        self.invert, self.sparse, self.pad_to_max_tokens = bool(invert), bool(sparse), \
            bool(pad_to_max_tokens)
        self._values = np.zeros((0,), np.int64)  # learned values, in index order
        self._idf = None  # tf_idf: one weight per output column (special tokens included)
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    def _mask_reserved(self):
        # Keras 2 reserves index 0 for the mask in int mode only; encoded modes drop it
        return self.mask_token is not None and self.output_mode == "int"

    def _token_start(self):
        return self._mask_reserved() + self.num_oov_indices

    def _special_tokens(self):
        return [self.mask_token] * self._mask_reserved() + \
            [self.oov_token] * self.num_oov_indices

    def _depth(self):
        """The width of an encoded output: max_tokens when padded to it."""
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """The values in index order (or a file's, one per line), with or without the mask
        and OOV tokens first (as get_vocabulary gives them); output_mode='tf_idf' takes one idf weight per entry
        (the OOV index, when not given, gets their mean, as Keras 2)."""
        if (self.output_mode == "tf_idf") != (idf_weights is not None):
            raise ValueError(f"IntegerLookup.set_vocabulary: idf_weights go with "
                             f"output_mode='tf_idf' and only with it; received "
                             f"output_mode={self.output_mode!r} and idf_weights="
                             f"{idf_weights!r}")
        given = _vocabulary_values(vocabulary)
        tokens, found_special = lookup_encoding.strip_special(given.tolist(),
                                                              self._special_tokens())
        values = np.asarray(tokens, np.int64)
        if len(np.unique(values)) != len(values):
            raise ValueError(f"IntegerLookup: vocabulary has repeated values: "
                             f"{values.tolist()}")
        # Keras 2 refuses the mask token past the start, and the OOV token too when
        # inverting (it would name two indices); a forward lookup never reads it
        reserved = ({self.mask_token} if self.mask_token is not None else set()) | \
            ({self.oov_token} if self.invert else set())
        if reserved & set(values.tolist()):
            raise ValueError(f"IntegerLookup: vocabulary must not hold the reserved tokens "
                             f"{sorted(reserved)} past its start; leave them out or put "
                             f"exactly {self._special_tokens()} first; received "
                             f"{given.tolist()}")
        if self.max_tokens is not None and len(values) + self._token_start() > self.max_tokens:
            raise ValueError(f"IntegerLookup: a vocabulary of {len(values)} values and "
                             f"{self._token_start()} reserved tokens exceeds max_tokens="
                             f"{self.max_tokens}")
        if idf_weights is not None and np.shape(idf_weights) != (len(given),):
            raise ValueError(f"IntegerLookup: idf_weights must hold one weight per "
                             f"vocabulary entry ({len(given)}); received shape "
                             f"{np.shape(idf_weights)}")
        self._set_values(values, idf_weights, 0 if found_special else self._token_start())

    def _set_values(self, values, idf_weights=None, front=0):
        """The values, and for tf_idf their weights after `front` indices without one."""
        self._values = values
        self._idf = None if idf_weights is None else lookup_encoding.idf_vector(
            idf_weights, front, self.max_tokens if self.pad_to_max_tokens else None)

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from `data` (an array, or an iterable of batches): the most
        frequent values first, up to max_tokens. No data keeps the vocabulary, as Keras 2;
        data of mask and OOV tokens only leaves none learned."""
        if self._has_input_vocabulary:
            raise lookup_encoding.adapt_refused(self.name)
        if isinstance(data, RaggedTensor):  # each row a document, as Keras 2 counts them
            rows = lookup_encoding.ragged_documents(data, batch_size, steps)
            batches = [np.asarray(r, np.int64) for r in rows]
        else:
            batches = [data] if hasattr(data, "shape") else list(data)
        values = np.concatenate([_ints(b, "adapt data") for b in batches]) if batches else \
            np.zeros((0,), np.int64)
        if not values.size:
            return
        if self.mask_token is not None:
            values = values[values != self.mask_token]
        tokens, counts = np.unique(values[values != self.oov_token], return_counts=True)
        ranked = lookup_encoding.rank_vocabulary(
            tokens, counts, None if self.max_tokens is None else
            self.max_tokens - self._token_start())
        weights = None
        if self.output_mode == "tf_idf":  # each row of a batch is a document (Keras 2)
            _, doc_counts, num_docs = lookup_encoding.count_tokens(
                (doc for b in batches for doc in lookup_encoding.documents(b)), True)
            weights = lookup_encoding.inverse_document_frequency(
                [doc_counts[t] for t in ranked.tolist()], num_docs).astype(np.float32)
        self._set_values(ranked, weights, self._token_start())

    def get_vocabulary(self, include_special_tokens=True):
        special = self._special_tokens()
        return (special if include_special_tokens else []) + self._values.tolist()

    def vocabulary_size(self):
        return len(self._values) + self._token_start()

    def call(self, inputs):
        if isinstance(inputs, RaggedTensor):  # element-wise: the rows kept, as TF's
            return self._call_ragged(inputs)
        x = jnp.asarray(inputs)
        if not jnp.issubdtype(x.dtype, jnp.integer):
            raise ValueError(f"IntegerLookup: inputs must be integers; received dtype "
                             f"{x.dtype}")
        if self.invert:  # Keras 2: ids outside the learned values give the OOV token
            vocab = jnp.asarray(np.asarray(self.get_vocabulary(), np.int64))
            return lookup_encoding.invert(x, vocab, jnp.asarray(self.oov_token, vocab.dtype))
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
        dense = lookup_encoding.encode(ids, self.output_mode, self._depth(), self._idf)
        return lookup_encoding.sparse_output("IntegerLookup", dense) if self.sparse else dense

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return input_shape
        shape = tuple(input_shape)
        if self.output_mode != "one_hot" or (shape and shape[-1] == 1):
            shape = shape[:-1]  # the encoded axis replaces the values' last one
        return (*shape, self._depth())

    def _call_ragged(self, inputs):
        if self.output_mode != "int":
            raise NotImplementedError(
                f"IntegerLookup of a RaggedTensor with output_mode={self.output_mode!r}: "
                "xlaflow looks up RaggedTensors element-wise only (output_mode='int'); pad "
                "the rows first (rt.to_tensor(default_value=...) with the mask value)")
        return rebuild(inputs, self.call(inputs.flat_values))

    def get_config(self):
        vocabulary, idf = self._values.tolist(), None
        if self._idf is not None:  # the weights of the special tokens too, with them
            vocabulary = self.get_vocabulary()
            idf = self._idf[:self.vocabulary_size()].astype(float).tolist()
        elif self.output_mode == "tf_idf":
            vocabulary = None  # nothing learned yet: no weights to go with it
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "mask_token": self.mask_token,
                "oov_token": self.oov_token, "vocabulary": vocabulary,
                "vocabulary_dtype": self.vocabulary_dtype, "output_mode": self.output_mode,
                "idf_weights": idf, "invert": self.invert, "sparse": self.sparse,
                "pad_to_max_tokens": self.pad_to_max_tokens,
                "has_input_vocabulary": self._has_input_vocabulary}

