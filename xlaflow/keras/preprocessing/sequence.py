"""pad_sequences: Keras 2's padding of variable-length lists to one NumPy array, the usual
first step of a text model (also xf.keras.utils.pad_sequences, as TF 2.9+)."""

from __future__ import annotations

import numpy as np


def _side(argument, value):
    if value not in ("pre", "post"):
        raise ValueError(f"pad_sequences: {argument} must be 'pre' or 'post'; "
                         f"received {value!r}")
    return value


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """`[len(sequences), maxlen, ...]` array: each sequence cut to `maxlen` (dropping from
    its start for truncating='pre') and filled with `value` (before it for padding='pre')."""
    _side("padding", padding)
    _side("truncating", truncating)
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of iterables; received "
                         f"{type(sequences).__name__}")
    sequences = [np.asarray(s) for s in sequences]
    lengths = [len(s) for s in sequences]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if isinstance(maxlen, bool) or int(maxlen) != maxlen or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative int or None; "
                         f"received {maxlen!r}")
    maxlen = int(maxlen)
    # the shape of one step, from the first non-empty sequence (Keras' rule)
    sample_shape = next((s.shape[1:] for s in sequences if len(s)), ())
    out = np.full((len(sequences), maxlen, *sample_shape), value, dtype=dtype)
    for i, seq in enumerate(sequences):
        if not len(seq) or not maxlen:
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"pad_sequences: sequence {i} has steps of shape "
                             f"{kept.shape[1:]}; expected {sample_shape} as the others")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out
