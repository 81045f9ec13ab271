"""The sparse-label check finds the model's output units without tracing the model at
every fit / train_on_batch call (a jax.eval_shape of the whole model, ~3 ms for an MLP)."""

from __future__ import annotations

import numpy as np
import pytest

from xlaflow.keras import layers, models


def counting_model(runs):
    def count(x):
        runs.append(1)  # Python runs of the model: traces, not compiled calls
        return x

    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                               layers.Lambda(count), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def test_repeated_fit_and_train_on_batch_trace_the_model_no_more():
    runs = []
    model = counting_model(runs)
    x = np.random.default_rng(0).random((8, 4), np.float32)
    y = np.arange(8) % 3
    model.fit(x, y, batch_size=8, verbose=0)
    model.train_on_batch(x, y)
    traced = len(runs)
    for _ in range(3):
        model.fit(x, y, batch_size=8, verbose=0)
        model.train_on_batch(x, y)
    assert len(runs) == traced


def test_labels_are_still_checked_against_the_units():
    model = counting_model([])
    x = np.zeros((4, 4), np.float32)
    model.train_on_batch(x, np.array([0, 1, 2, 2]))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"labels in \[0, 3\).*received labels in \[0, 3\]"):
        model.train_on_batch(x, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        model.fit(x, np.array([0, 3, 1, 1]), verbose=0)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)  # refused before any weight changed


def test_a_nested_model_given_a_new_head_is_checked_against_its_new_units():
    # The cache of output units must see a nested model's layers change: the top-level
    # layers and input shape stay the same when a sub-model's head is replaced.
    inner = models.Sequential([layers.Dense(8, input_shape=(4,)), layers.Dense(3)])
    model = models.Sequential([inner, layers.Activation("softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.zeros((8, 4), np.float32)
    model.fit(x, np.arange(8) % 3, batch_size=8, verbose=0)
    inner.pop()
    inner.add(layers.Dense(7))
    model.fit(x, np.arange(8) % 7, batch_size=8, verbose=0)  # labels 0..6 fit 7 outputs
    with pytest.raises(ValueError, match=r"labels in \[0, 7\)"):
        model.fit(x, np.arange(8), batch_size=8, verbose=0)
