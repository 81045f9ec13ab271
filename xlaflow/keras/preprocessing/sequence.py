"""Keras 2's host-side sequence helpers: pad_sequences (variable-length lists to one NumPy
array; also xf.keras.utils.pad_sequences, as TF 2.9+), and word2vec's skipgrams and
make_sampling_table."""

from __future__ import annotations

import numbers
import random

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


def make_sampling_table(size, sampling_factor=1e-5):
    """Keras 2's word-rank sampling table: entry i is the probability of keeping the i-th
    most frequent word, sqrt(sampling_factor * inv_fq) capped at 1, with inv_fq the Zipf
    estimate i * (log(i) + 0.577) + 0.5 - 1 / (12 i) (word2vec's subsampling)."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0:
        raise ValueError(f"make_sampling_table: size must be a non-negative int; received "
                         f"{size!r}")
    gamma = 0.577
    rank = np.arange(size)
    if size:
        rank[0] = 1  # index 0 is no word (padding): it gets rank 1's value, as in Keras
    inv_fq = rank * (np.log(rank) + gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_fq
    return np.minimum(1.0, f / np.sqrt(f))


def _check_skipgrams(vocabulary_size, window_size, negative_samples):
    if isinstance(window_size, bool) or not isinstance(window_size, numbers.Integral) or \
            window_size < 0:
        raise ValueError(f"skipgrams: window_size must be a non-negative int; received "
                         f"{window_size!r}")
    if isinstance(negative_samples, bool) or not isinstance(negative_samples, numbers.Real) \
            or negative_samples < 0:
        raise ValueError(f"skipgrams: negative_samples must be a number >= 0; received "
                         f"{negative_samples!r}")
    if isinstance(vocabulary_size, bool) or not isinstance(vocabulary_size, numbers.Integral) \
            or (negative_samples > 0 and vocabulary_size < 2):
        # negatives are drawn from [1, vocabulary_size - 1]
        raise ValueError(f"skipgrams: vocabulary_size must be an int (at least 2 when "
                         f"negative_samples > 0); received {vocabulary_size!r}")


def skipgrams(sequence, vocabulary_size, window_size=4, negative_samples=1.0, shuffle=True,
              categorical=False, sampling_table=None, seed=None):
    """Keras 2's skip-gram pairs of a sequence of word indices: `(couples, labels)`, with
    `[word, context]` for every non-zero word within `window_size` of a non-zero word
    (label 1), plus `int(len(positives) * negative_samples)` pairs of a shuffled positive
    word and a random index in [1, vocabulary_size - 1] (label 0).

    Index 0 is no word (padding). With `sampling_table`, word `w` is kept as a target with
    probability `sampling_table[w]`. `categorical` labels are [0, 1] and [1, 0]. As Keras
    2, the draws come from Python's global `random` (so `random.seed` repeats them) and
    `shuffle` reseeds it with `seed` (else a seed drawn from it) to permute couples and
    labels alike.
    """
    _check_skipgrams(vocabulary_size, window_size, negative_samples)
    if sampling_table is not None:
        sampling_table = np.asarray(sampling_table)
    couples, labels = [], []
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        if sampling_table is not None:
            if not 0 <= wi < len(sampling_table):
                raise ValueError(f"skipgrams: sequence[{i}] = {wi} has no entry in "
                                 f"sampling_table (of size {len(sampling_table)})")
            if sampling_table[wi] < random.random():
                continue
        window_start = max(0, i - window_size)
        window_end = min(len(sequence), i + window_size + 1)
        for j in range(window_start, window_end):
            if j != i:
                wj = sequence[j]
                if not wj:
                    continue
                couples.append([wi, wj])
                labels.append([0, 1] if categorical else 1)

    if negative_samples > 0:
        num_negative_samples = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        random.shuffle(words)
        couples += [[words[i % len(words)], random.randint(1, vocabulary_size - 1)]
                    for i in range(num_negative_samples)]
        labels += [[1, 0] if categorical else 0 for _ in range(num_negative_samples)]

    if shuffle:
        if seed is None:
            seed = random.randint(0, 10_000_000)  # Keras' randint(0, 10e6)
        random.seed(seed)
        random.shuffle(couples)
        random.seed(seed)
        random.shuffle(labels)
    return couples, labels
