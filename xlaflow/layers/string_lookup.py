"""Keras 2's StringLookup, host-side: strings to vocabulary indices (or back, invert=True),
learned by adapt(); the dict lookup runs in Python on NumPy arrays, as a tf.data map does.

Strings are not jax arrays: call it in the input pipeline (Dataset.map) or first in a
Sequential model, never inside xf.function. Vocabulary order and encodings are shared with
IntegerLookup (lookup_encoding.py).
"""

from __future__ import annotations

import itertools
import os
from collections import ChainMap, Counter

import numpy as np

from xlaflow._farmhash import fingerprint64
from xlaflow.layers import host_strings, lookup_encoding
from xlaflow.ragged_tensor import RaggedTensor


class StringLookup(host_strings.HostLayer):
    """Index of each string in the vocabulary, after the mask index (0, when mask_token is
    set and output_mode='int') and the OOV indices (FarmHash picks one); adapt() ranks tokens by frequency, ties by
    the larger string, as Keras 2. `int` ids are int64, encodings float32 (NumPy)."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None,
                 oov_token="[UNK]", vocabulary=None, idf_weights=None, encoding="utf-8",
                 invert=False, output_mode="int", sparse=False, pad_to_max_tokens=False,
                 **kwargs):
        output_mode = lookup_encoding.check_options(
            "StringLookup", output_mode, num_oov_indices, invert, idf_weights, vocabulary,
            pad_to_max_tokens, max_tokens, sparse)
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <= 1):
            raise ValueError(f"StringLookup: max_tokens must be None or an int greater than "
                             f"1; received {max_tokens!r}")
        if str(encoding).lower().replace("-", "") != "utf8":
            raise NotImplementedError(f"StringLookup(encoding={encoding!r}): only UTF-8")
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        kwargs.pop("vocabulary_dtype", None)  # Keras 2's config carries it: always strings
        super().__init__(**kwargs)  # after the checks: a refused layer takes no name
        self.max_tokens, self.num_oov_indices = max_tokens, int(num_oov_indices)
        self.mask_token, self.oov_token = mask_token, oov_token
        self.invert, self.output_mode, self.sparse = invert, output_mode, sparse
        self.pad_to_max_tokens, self.encoding = pad_to_max_tokens, encoding
        self._has_input_vocabulary = bool(has_input_vocabulary)
        self._tokens = []  # learned tokens, in index order (no mask or OOV)
        self._index = {}
        self._idf = None  # tf_idf: one weight per index (special tokens included)
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # -- vocabulary ------------------------------------------------------------------------
    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self):
        return self._oov_start() + self.num_oov_indices

    def _special_tokens(self):
        return [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices

    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary in index order; with the mask and OOV tokens first, by default."""
        return (self._special_tokens() if include_special_tokens else []) + list(self._tokens)

    def vocabulary_size(self):
        """The number of indices: learned tokens plus the mask and OOV ones."""
        return len(self._tokens) + self._token_start()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the tokens (a list/array, or the path of a file with one token per line), with
        or without the special tokens first; tf_idf takes their idf_weights too."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError("StringLookup.set_vocabulary: output_mode='tf_idf' needs "
                             "idf_weights")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"StringLookup.set_vocabulary: idf_weights needs "
                             f"output_mode='tf_idf'; received {self.output_mode!r}")
        if isinstance(vocabulary, str):
            if not os.path.isfile(vocabulary):
                raise ValueError(f"StringLookup: vocabulary file {vocabulary!r} does not "
                                 "exist")
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = f.read().splitlines()
        vocab = host_strings.as_strings(vocabulary, "StringLookup", "vocabulary")
        if vocab.ndim != 1 or vocab.size == 0:
            raise ValueError(f"StringLookup: vocabulary must be a non-empty 1-D list of "
                             f"strings; received shape {vocab.shape}")
        special = self._special_tokens()
        tokens, found_special = lookup_encoding.strip_special(vocab.tolist(), special)
        repeated = sorted(t for t, n in Counter(tokens).items() if n > 1)
        if repeated:
            raise ValueError(f"StringLookup: the vocabulary has repeated tokens: {repeated}")
        reserved = ([self.mask_token] if self.mask_token is not None else []) + \
            ([self.oov_token] if self.invert else [])
        misplaced = [t for t in reserved if t in tokens]
        if misplaced:
            raise ValueError(f"StringLookup: the vocabulary holds the reserved token(s) "
                             f"{misplaced} away from its start; leave them out, or put "
                             f"exactly {special} first")
        if self.max_tokens is not None and len(tokens) + self._token_start() > self.max_tokens:
            raise ValueError(f"StringLookup: a vocabulary of {len(tokens) + self._token_start()}"
                             f" tokens exceeds max_tokens={self.max_tokens}")
        if idf_weights is not None and np.shape(idf_weights) != (len(vocab),):
            raise ValueError(f"StringLookup: idf_weights must hold one weight per "
                             f"vocabulary token ({len(vocab)}); received shape "
                             f"{np.shape(idf_weights)}")
        self._set_tokens(tokens, idf_weights, 0 if found_special else self._token_start())

    def _set_tokens(self, tokens, idf_weights=None, front=0):
        """The tokens, and for tf_idf their weights after `front` indices without one."""
        self._tokens = list(tokens)
        start = self._token_start()
        self._index = {t: i + start for i, t in enumerate(self._tokens)}
        self._idf = None if idf_weights is None else lookup_encoding.idf_vector(
            idf_weights, front, self.max_tokens if self.pad_to_max_tokens else None)

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from `data` (strings: an array, list, or an iterable of
        batches such as a Dataset): the most frequent first, up to max_tokens."""
        if isinstance(data, RaggedTensor):  # each row a document, as Keras 2 counts them
            return self._learn(lookup_encoding.ragged_documents(data, batch_size, steps))
        self._learn(itertools.chain.from_iterable(
            lookup_encoding.documents(b) for b in host_strings.batches_of(
                data, batch_size, steps, "StringLookup")))

    def _learn(self, documents):
        """adapt() from an iterable of documents (lists of tokens); the idf weights count the
        documents holding each token (Keras 2: each row of a batch is one document)."""
        if self._has_input_vocabulary:
            raise lookup_encoding.adapt_refused(self.name)
        counts, doc_counts, num_docs = lookup_encoding.count_tokens(
            documents, self.output_mode == "tf_idf")
        if not counts:  # no data: Keras 2 keeps the vocabulary it had
            return
        for special in (self.mask_token, self.oov_token):  # only these: none is learned
            counts.pop(special, None)
        limit = None if self.max_tokens is None else self.max_tokens - self._token_start()
        tokens = lookup_encoding.rank_vocabulary(
            np.array(list(counts), dtype=str), np.array(list(counts.values())), limit).tolist()
        weights = None
        if self.output_mode == "tf_idf":  # Keras 2 computes them in float32
            weights = lookup_encoding.inverse_document_frequency(
                [doc_counts[t] for t in tokens], num_docs).astype(np.float32)
        self._set_tokens(tokens, weights, self._token_start())

    # -- lookup ----------------------------------------------------------------------------
    def lookup_ids(self, tokens):
        """Ids of a flat list of Python strings (a dropped mask token: -1); with several OOV
        indices, an unknown token's is its FarmHash Fingerprint64 modulo their number, after
        the first (Keras 2: tf.strings.to_hash_bucket_fast(token, num_oov_indices))."""
        mask_id = 0 if self.output_mode == "int" else -1
        oov_id = self._oov_start() if self.num_oov_indices else -2
        index, mask = self._index, self.mask_token
        if self.num_oov_indices > 1:  # each unknown token hashed once per call
            index = ChainMap(index, {
                t: oov_id + fingerprint64(t.encode("utf-8")) % self.num_oov_indices
                for t in set(tokens).difference(index)})
        ids = np.fromiter((mask_id if t == mask and mask is not None else index.get(t, oov_id)
                           for t in tokens), np.int64, count=len(tokens))
        if not self.num_oov_indices and (ids == -2).any():
            unknown = sorted({t for t, i in zip(tokens, ids.tolist()) if i == -2})
            raise ValueError(f"{self.name}: with num_oov_indices=0 every input must be in "
                             f"the vocabulary; received out-of-vocabulary {unknown[:10]}")
        return ids

    def encode_ids(self, ids):
        """Ids encoded as output_mode says (int: themselves)."""
        if self.output_mode == "int":
            return ids
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        dense = lookup_encoding.encode(ids, self.output_mode, depth, self._idf, xp=np)
        return lookup_encoding.sparse_output(type(self).__name__, dense) if self.sparse \
            else dense

    def call(self, inputs):
        if self.invert:
            ids = host_strings.as_ids(inputs, "StringLookup")
            vocab = np.array(self.get_vocabulary(), dtype=str)
            return lookup_encoding.invert(ids, vocab, self.oov_token, xp=np).astype(str)
        strings = host_strings.as_strings(inputs, "StringLookup")
        ids = self.lookup_ids(strings.reshape(-1).tolist()).reshape(strings.shape)
        return self.encode_ids(ids)

    def _elementwise(self):
        return self.output_mode == "int"

    def _takes_text(self):
        return not self.invert

    def _output_dtype(self):
        return "string" if self.invert else "int64" if self.output_mode == "int" else \
            "float32"

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return input_shape
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        shape = tuple(input_shape)
        if self.output_mode != "one_hot" or (shape and shape[-1] == 1):
            shape = shape[:-1]
        return (*shape, depth)

    def get_config(self):
        idf = None if self._idf is None else \
            self._idf[:self.vocabulary_size()].astype(float).tolist()
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "mask_token": self.mask_token,
                "oov_token": self.oov_token, "invert": self.invert,
                "output_mode": self.output_mode, "sparse": self.sparse,
                "pad_to_max_tokens": self.pad_to_max_tokens, "encoding": self.encoding,
                "vocabulary": self.get_vocabulary() if self._tokens else None,
                "idf_weights": idf, "has_input_vocabulary": self._has_input_vocabulary}

