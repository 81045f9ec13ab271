"""tf.strings.ngrams: the n-grams of each row of tokens (the last axis), TF's StringNGrams
kernel in Python, on the host: padding, several widths, preserve_short_sequences.

A RaggedTensor gives a RaggedTensor with the same outer rows; a dense tensor gives a dense
tensor (every row is as long, so every row has as many n-grams), as TF's.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from xlaflow import _ragged_text as rtext
from xlaflow import _string_values as sv

_TEXT = (str, bytes)


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _pads(pad_values):
    """(left pad, right pad) as bytes; TF's TypeError for anything but strings."""
    if pad_values is None:
        return b"", b""
    if isinstance(pad_values, (list, tuple)):
        if len(pad_values) != 2 or not all(isinstance(p, _TEXT) for p in pad_values):
            raise TypeError("tf.strings.ngrams: pad_values must be a string, tuple of "
                            f"strings, or None; received {pad_values!r:.60}")
        return _as_bytes(pad_values[0]), _as_bytes(pad_values[1])
    if not isinstance(pad_values, _TEXT):
        raise TypeError("tf.strings.ngrams: pad_values must be a string, tuple of strings, "
                        f"or None; received {pad_values!r:.60}")
    return _as_bytes(pad_values), _as_bytes(pad_values)


def _widths(ngram_width):
    widths = list(ngram_width) if isinstance(ngram_width, (list, tuple)) else [ngram_width]
    if not widths or any(isinstance(w, bool) or not isinstance(w, (int, np.integer))
                         or w < 1 for w in widths):
        raise ValueError(f"tf.strings.ngrams: all ngram_widths must be ints greater than 0; "
                         f"received {ngram_width!r}")
    return [int(w) for w in widths]


def _row_ngrams(tokens, widths, sep, left, right, pad_width, preserve_short):
    """StringNGrams on one row: for each width n, the windows of n over the row padded with
    min(pad_width, n - 1) pads each side (pad_width -1: n - 1), joined by `sep`."""
    out = []
    for n in widths:
        p = min(n - 1 if pad_width < 0 else pad_width, n - 1)
        padded = [left] * p + tokens + [right] * p
        out += [sep.join(padded[i:i + n]) for i in range(len(padded) - n + 1)]
    if preserve_short and not out and tokens:  # one n-gram of the whole (padded) row
        p = max(pad_width, 0)
        out.append(sep.join([left] * p + tokens + [right] * p))
    return out


def ngrams(data, ngram_width, separator=" ", pad_values=None, padding_width=None,
           preserve_short_sequences=False, name=None):
    """The n-grams of width `ngram_width` (an int or a list of them, each row's n-grams
    width by width) of each row of tokens, joined by `separator`. `pad_values` (a string or
    a (left, right) pair) pads each row with `padding_width` pads (default n - 1) each
    side; preserve_short_sequences gives a row too short for any n-gram one n-gram of all
    its tokens."""
    left, right = _pads(pad_values)
    if padding_width is not None and (isinstance(padding_width, bool) or not isinstance(
            padding_width, (int, np.integer)) or padding_width < 1):
        raise ValueError(f"tf.strings.ngrams: padding_width must be an int greater than 0; "
                         f"received {padding_width!r}")
    if padding_width is not None and pad_values is None:
        raise ValueError("tf.strings.ngrams: pad_values must be provided if padding_width "
                         "is set")
    widths = _widths(ngram_width)
    sep = sv.scalar_text(separator, "ngrams", "separator")
    pad_width = 0 if pad_values is None else -1 if padding_width is None else \
        int(padding_width)

    def rows(row_list):
        return [_row_ngrams(r, widths, sep, left, right, pad_width,
                            preserve_short_sequences) for r in row_list]

    if rtext.is_ragged(data):
        return _ragged(data, rows)
    array = sv.text_array(data, "ngrams", "data")
    if array.ndim == 0:
        raise ValueError("tf.strings.ngrams: data must have rank > 0; received a scalar "
                         f"string {array[()]!r:.60}")
    lead, length = array.shape[:-1], array.shape[-1]
    grams = rows(array.reshape(math.prod(lead), length).tolist())
    width = len(rows([[b""] * length])[0])  # equal rows give equally many n-grams
    out = np.empty((len(grams), width), dtype=object)
    for i, row in enumerate(grams):
        out[i, :] = row
    return sv.text_result(out.reshape(*lead, width))


def _ragged(rt, rows):
    """n-grams along the innermost ragged axis: each innermost row becomes its n-grams."""
    if rtext.is_ragged(rt.values):
        return rt.with_values(_ragged(rt.values, rows))
    flat = sv.text_array(rt.values, "ngrams", "data")
    if flat.ndim != 1:
        raise NotImplementedError("tf.strings.ngrams: a RaggedTensor with uniform inner "
                                  "dimensions is not provided; its tokens must be the "
                                  "ragged (last) axis")
    splits = np.asarray(rt.row_splits).tolist()
    tokens = flat.tolist()
    grams = rows([tokens[a:b] for a, b in itertools.pairwise(splits)])
    values = sv.text_result(rtext.pieces_array([g for row in grams for g in row]))
    return rtext.nest(values, [len(r) for r in grams], (len(grams),),
                      rt.row_splits_dtype)
