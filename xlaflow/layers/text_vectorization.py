"""Keras 2's TextVectorization, host-side: standardize, split, n-grams, then a StringLookup
(mask token "") into int64 ids (padded, or a RaggedTensor with ragged=True) or float32
multi-hot/count/tf-idf vectors.

It runs on NumPy strings in Python, as a tf.data map function does: map it over the input
pipeline (or put it first in a Sequential model), never inside xf.function.
"""

from __future__ import annotations

import itertools
import re

import numpy as np

from xlaflow.layers import host_strings
from xlaflow.layers.string_lookup import StringLookup

# Keras 2's DEFAULT_STRIP_REGEX (TF's regex_replace removes each match)
STRIP_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
# tf.strings.split without a separator splits on runs of ASCII whitespace only
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
# tf.strings.lower without an encoding lowercases ASCII letters only
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
_MODES = ("int", "multi_hot", "count", "tf_idf")


class TextVectorization(host_strings.HostLayer):
    """Strings to token ids (int, padded with 0 to the longest text or to
    output_sequence_length; ragged=True: a RaggedTensor of each text's ids) or to one
    vector per text (multi_hot, count, tf_idf); adapt()
    learns the vocabulary. A callable standardize gets and returns a NumPy str array; a
    callable split gets the 1-D NumPy str array of texts and returns one token list each."""

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", **kwargs):
        lookup_kwargs = {k: kwargs.pop(k) for k in ("has_input_vocabulary",) if k in kwargs}
        kwargs.pop("vocabulary_size", None)  # Keras 2's config carries it: derived here
        super().__init__(**kwargs)
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if not (standardize is None or standardize in _STANDARDIZE or callable(standardize)):
            raise ValueError(f"TextVectorization: standardize must be None, a callable or one "
                             f"of {_STANDARDIZE}; received {standardize!r}")
        if not (split is None or split in _SPLIT or callable(split)):
            raise ValueError(f"TextVectorization: split must be None, a callable or one of "
                             f"{_SPLIT}; received {split!r}")
        if not (output_mode is None or output_mode in _MODES):
            raise ValueError(f"TextVectorization: output_mode must be None or one of "
                             f"{_MODES}; received {output_mode!r}")
        widths = _ngram_widths(ngrams)
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError(f"TextVectorization: output_sequence_length needs "
                             f"output_mode='int'; received output_mode={output_mode!r}")
        if output_sequence_length is not None and (
                not isinstance(output_sequence_length, int) or output_sequence_length < 1):
            raise ValueError(f"TextVectorization: output_sequence_length must be a positive "
                             f"int or None; received {output_sequence_length!r}")
        if ragged and output_mode != "int":  # Keras 2: ragged ids only
            raise ValueError(f"TextVectorization: ragged=True needs output_mode='int'; "
                             f"received output_mode={output_mode!r}")
        if ragged and output_sequence_length is not None:
            raise ValueError(f"TextVectorization: output_sequence_length must not be set "
                             f"with ragged=True; received output_sequence_length="
                             f"{output_sequence_length!r}")
        self.standardize, self.split, self.ngrams = standardize, split, ngrams
        self.output_mode, self.output_sequence_length = output_mode, output_sequence_length
        self.max_tokens, self.pad_to_max_tokens = max_tokens, pad_to_max_tokens
        self.sparse, self.ragged, self.encoding = sparse, ragged, encoding
        self._widths = widths
        self._lookup = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", sparse=sparse,
            output_mode=output_mode or "int", encoding=encoding,
            name=f"{self.name}_lookup", **lookup_kwargs)

    # -- vocabulary (the inner StringLookup's) -----------------------------------------------
    def get_vocabulary(self, include_special_tokens=True):
        return self._lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self._lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup.set_vocabulary(vocabulary, idf_weights)

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary of the standardized, split texts in `data` (an array, list,
        or an iterable of batches such as a Dataset); each text is one document."""
        batches = host_strings.batches_of(data, batch_size, steps, "TextVectorization")
        self._lookup._learn(itertools.chain.from_iterable(
            self._preprocess(batch)[0] for batch in batches))

    # -- the text pipeline -----------------------------------------------------------------
    def _standardized(self, strings):
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            strings = np.array([s.translate(_ASCII_LOWER) for s in strings.reshape(-1)],
                               dtype=str).reshape(strings.shape)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            strings = np.array([STRIP_PUNCTUATION.sub("", s) for s in strings.reshape(-1)],
                               dtype=str).reshape(strings.shape)
        if callable(self.standardize):
            out = host_strings.as_strings(self.standardize(strings), "TextVectorization",
                                          "standardize's result")
            if out.shape != strings.shape:
                raise ValueError(f"TextVectorization: standardize must keep the shape "
                                 f"{strings.shape}; it returned shape {out.shape}")
            strings = out
        return strings

    def _preprocess(self, inputs):
        """(token rows, the leading shape they fill): one row per text when splitting, else
        the last axis of the (standardized) strings as one row."""
        strings = self._standardized(host_strings.as_strings(inputs, "TextVectorization"))
        if self.split is None:
            rows = [[str(strings)]] if strings.ndim == 0 else \
                strings.reshape(-1, strings.shape[-1]).tolist()
            lead = strings.shape[:-1]
        else:
            if strings.ndim > 1:
                if strings.shape[-1] != 1:
                    raise ValueError(f"TextVectorization: to split strings the inputs must "
                                     f"be 1-D or have a last axis of size 1; received shape "
                                     f"{strings.shape}")
                strings = strings[..., 0]
            lead = strings.shape
            rows = [self._split_text(s) for s in strings.reshape(-1).tolist()] \
                if not callable(self.split) else self._split_callable(strings)
        if self._widths:
            rows = [_ngrams(row, self._widths) for row in rows]
        return rows, lead

    def _split_text(self, text):
        if self.split == "whitespace":
            return [t for t in _WHITESPACE.split(text) if t]
        return list(text)  # "character": Unicode code points, as tf.strings.unicode_split

    def _split_callable(self, strings):
        flat = strings.reshape(-1)
        rows = self.split(flat)
        if len(rows) != len(flat):
            raise ValueError(f"TextVectorization: split must return one token list per "
                             f"text ({len(flat)}); it returned {len(rows)}")
        return [host_strings.as_strings(row, "TextVectorization", "split's result")
                .reshape(-1).tolist() for row in rows]

    def call(self, inputs):
        rows, lead = self._preprocess(inputs)
        if self.output_mode is None:  # the tokens themselves, padded with ""
            return _padded(rows, lead, None, "", str)
        flat = self._lookup.lookup_ids(list(itertools.chain.from_iterable(rows)))
        bounds = np.cumsum([0] + [len(row) for row in rows])
        id_rows = [flat[a:b] for a, b in itertools.pairwise(bounds)]
        if self.output_mode == "int" and self.ragged:  # rows of ids, unpadded (TF's)
            return _ragged(flat, [len(row) for row in rows], lead)
        if self.output_mode == "int":
            return _padded(id_rows, lead, self.output_sequence_length, 0, np.int64)
        return self._lookup.encode_ids(_padded(id_rows, lead, None, -1, np.int64))

    def _output_dtype(self):
        return "string" if self.output_mode is None else \
            "int64" if self.output_mode == "int" else "float32"

    def compute_output_shape(self, input_shape):
        batch = tuple(input_shape)[:1]
        if self.output_mode in ("int", None):  # None: the tokens, padded to the longest
            return (*batch, self.output_sequence_length if self.output_mode else None)
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        return (*batch, depth)

    def get_config(self):
        lookup = self._lookup.get_config()
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "standardize": self.standardize, "split": self.split, "ngrams": self.ngrams,
                "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": self.pad_to_max_tokens, "sparse": self.sparse,
                "ragged": self.ragged, "encoding": self.encoding,
                "vocabulary": lookup["vocabulary"], "idf_weights": lookup["idf_weights"],
                "has_input_vocabulary": lookup["has_input_vocabulary"]}


def _ngram_widths(ngrams):
    if ngrams is None:
        return ()
    if isinstance(ngrams, int) and not isinstance(ngrams, bool) and ngrams >= 1:
        return tuple(range(1, ngrams + 1))  # Keras 2: ngrams=n means widths 1..n
    if isinstance(ngrams, (tuple, list)) and ngrams and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in ngrams):
        return tuple(ngrams)
    raise ValueError(f"TextVectorization: ngrams must be None, a positive int or a tuple of "
                     f"positive ints; received {ngrams!r}")


def _ngrams(tokens, widths):
    """tf.strings.ngrams(tokens, widths, separator=" "): all n-grams of each width in turn."""
    return [" ".join(tokens[i:i + n]) for n in widths for i in range(len(tokens) - n + 1)]


def _ragged(ids, lengths, lead):
    """The ids (int64) as a RaggedTensor of rows `lengths` over the `lead` shape; a scalar
    text (lead ()) gives its one row as a 1-D array."""
    if not lead:
        return ids
    from xlaflow._ragged_text import nest

    return nest(ids, lengths, lead)


def _padded(rows, lead, length, fill, dtype):
    """Rows padded with `fill` (or cut) to `length`, else to the longest, shaped
    (*lead, length)."""
    if length is None:
        length = max((len(row) for row in rows), default=0)
    out = np.full((len(rows), length), fill, dtype=object if dtype is str else dtype)
    for i, row in enumerate(rows):
        row = row[:length]
        out[i, :len(row)] = row
    return out.reshape(*lead, length).astype(dtype)
