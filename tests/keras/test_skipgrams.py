"""keras.preprocessing.sequence.skipgrams and make_sampling_table against their oracles: the
word2vec tutorial's printed values, pairs enumerated by |i - j| <= window, Python's own
random.shuffle for Keras 2's seeded shuffle, and frequencies within a few standard errors."""

import random
from collections import Counter

import numpy as np
import pytest

from xlaflow import keras

sequence = keras.preprocessing.sequence


def _window_pairs(seq, window):
    # every ordered pair of non-padding positions at distance 1..window
    return sorted((seq[i], seq[j]) for i in range(len(seq)) for j in range(len(seq))
                  if 0 < abs(i - j) <= window and seq[i] and seq[j])


def test_make_sampling_table_prints_the_tutorials_values():
    table = sequence.make_sampling_table(size=10)
    # the word2vec tutorial's printed output
    np.testing.assert_allclose(table, [0.00315225, 0.00315225, 0.00547597, 0.00741556,
                                       0.00912817, 0.01068435, 0.01212381, 0.01347162,
                                       0.01474487, 0.0159558], atol=5e-9)


def test_make_sampling_table_closed_form_and_cap():
    size, factor = 300, 1e-3
    r = np.arange(1, size, dtype=np.float64)
    zipf = r * (np.log(r) + 0.577) + 0.5 - 1 / (12 * r)  # Keras 2's inverse frequency
    table = sequence.make_sampling_table(size, sampling_factor=factor)
    np.testing.assert_allclose(table[1:], np.minimum(1.0, np.sqrt(factor * zipf)), rtol=1e-12)
    assert table[0] == table[1] and table.max() == 1.0  # large ranks are capped at 1
    assert sequence.make_sampling_table(0).shape == (0,)
    with pytest.raises(ValueError, match="size must be a non-negative int; received -1"):
        sequence.make_sampling_table(-1)


def test_tutorial_sentence_gives_26_positive_pairs():
    tokens = ["the", "wide", "road", "shimmered", "in", "the", "hot", "sun"]
    vocab = {"<pad>": 0}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    example_sequence = [vocab[word] for word in tokens]
    positive_skip_grams, labels = sequence.skipgrams(
        example_sequence, vocabulary_size=len(vocab), window_size=2, negative_samples=0)
    assert len(positive_skip_grams) == 26  # the tutorial's printed count
    assert labels == [1] * 26
    assert sorted(map(tuple, positive_skip_grams)) == _window_pairs(example_sequence, 2)


def test_padding_is_never_a_target_or_context():
    seq = [0, 3, 0, 0, 5, 2, 0, 4]
    couples, _ = sequence.skipgrams(seq, 6, window_size=3, negative_samples=0, shuffle=False)
    assert sorted(map(tuple, couples)) == _window_pairs(seq, 3)
    assert all(w and c for w, c in couples)


def test_shuffle_with_seed_is_pythons_shuffle_of_the_ordered_pairs():
    seq = [1, 2, 3, 4, 5, 6, 7]
    ordered, ordered_labels = sequence.skipgrams(seq, 8, window_size=2, negative_samples=0,
                                                 shuffle=False)
    couples, labels = sequence.skipgrams(seq, 8, window_size=2, negative_samples=0, seed=11)
    expected = list(ordered)
    random.seed(11)
    random.shuffle(expected)
    assert couples == expected and labels == ordered_labels
    # shuffle=False keeps Keras' order: targets in sequence order, contexts left to right
    assert ordered[:3] == [[1, 2], [1, 3], [2, 1]]


def test_negative_samples_count_range_and_pairing():
    random.seed(0)
    seq = list(range(1, 21))
    couples, labels = sequence.skipgrams(seq, 50, window_size=2, negative_samples=2.0,
                                         seed=3)
    positives = _window_pairs(seq, 2)
    assert len(couples) == len(labels) == 3 * len(positives)  # int(len * 2.0) negatives
    positive = sorted(tuple(c) for c, y in zip(couples, labels) if y == 1)
    negative = [tuple(c) for c, y in zip(couples, labels) if y == 0]
    assert positive == positives  # shuffling kept each couple with its label
    assert all(1 <= c <= 49 for _, c in negative)
    # each positive target is reused exactly twice (words[i % len(words)])
    assert Counter(w for w, _ in negative) == Counter({w: 2 * n for w, n in
                                                       Counter(w for w, _ in positives).items()})


def test_negative_contexts_are_uniform_over_the_vocabulary():
    random.seed(1)
    vocabulary_size = 11
    couples, labels = sequence.skipgrams(list(range(1, 401)), vocabulary_size, window_size=5,
                                         negative_samples=1.0)
    contexts = np.array([c for (_, c), y in zip(couples, labels) if y == 0])
    n, p = len(contexts), 1 / (vocabulary_size - 1)
    freq = np.bincount(contexts, minlength=vocabulary_size)[1:] / n
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_categorical_labels():
    couples, labels = sequence.skipgrams([1, 2, 3], 4, window_size=1, negative_samples=1.0,
                                         categorical=True, seed=0)
    assert len(couples) == 8
    assert sorted(map(tuple, labels)) == [(0, 1)] * 4 + [(1, 0)] * 4


def test_sampling_table_keeps_targets_with_its_probability():
    random.seed(2)
    seq = [1, 2] * 2000  # each position has two neighbours at window 1, one at the ends
    table = np.array([0.0, 0.25, 1.0])  # word 1 kept a quarter of the time, word 2 always
    couples, _ = sequence.skipgrams(seq, 3, window_size=1, negative_samples=0,
                                    sampling_table=table, shuffle=False)
    kept = Counter(w for w, _ in couples)
    assert kept[2] == 2 * 2000 - 1
    n = 2000
    assert abs(kept[1] / (2 * n) - 0.25) < 5 * np.sqrt(0.25 * 0.75 / n)
    with pytest.raises(ValueError, match=r"sequence\[0\] = 5 has no entry in sampling_table"):
        sequence.skipgrams([5], 6, sampling_table=table)


def test_skipgrams_bad_arguments():
    with pytest.raises(ValueError, match="window_size must be a non-negative int"):
        sequence.skipgrams([1, 2], 3, window_size=-1)
    with pytest.raises(ValueError, match="negative_samples must be a number >= 0"):
        sequence.skipgrams([1, 2], 3, negative_samples=-1)
    with pytest.raises(ValueError, match="vocabulary_size must be an int.*received 1"):
        sequence.skipgrams([1, 2], 1)
    # without negatives the vocabulary size is not used, as in Keras
    assert sequence.skipgrams([1, 2], 1, negative_samples=0, shuffle=False)[0] == [[1, 2],
                                                                                   [2, 1]]
