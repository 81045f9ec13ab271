"""keras.utils.Sequence in fit/evaluate/predict: every batch index read once per epoch (in
a shuffled order when fit shuffles), and `on_epoch_end` after each epoch, as Keras 2."""

import numpy as np
import pytest

from xlaflow import keras


class Recording(keras.utils.Sequence):
    def __init__(self, n_batches, batch=4):
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(n_batches * batch, 3)).astype("float32")
        self.y = self.x.sum(1, keepdims=True)
        self.batch, self.n = batch, n_batches
        self.read, self.ended = [], []

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        self.read.append(index)
        rows = slice(index * self.batch, (index + 1) * self.batch)
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.ended.append(len(self.read))


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_fit_reads_each_batch_once_per_epoch_and_calls_on_epoch_end_after_it():
    seq = Recording(5)
    _model().fit(seq, epochs=3, verbose=0, shuffle=False)
    # fit looks at batch 0 first to build the model; then three epochs in order
    assert seq.read[1:] == list(range(5)) * 3
    assert seq.ended == [6, 11, 16]  # after the fifth batch of each epoch


def test_fit_shuffles_the_batch_order_per_epoch_when_asked():
    keras.utils.set_random_seed(0)
    seq = Recording(8)
    _model().fit(seq, epochs=2, verbose=0)  # shuffle=True is fit's default
    first, second = seq.read[1:9], seq.read[9:17]
    assert sorted(first) == sorted(second) == list(range(8))
    assert first != second


def test_evaluate_and_predict_read_the_sequence_in_order():
    seq, model = Recording(3), _model()
    predictions = model.predict(seq, verbose=0)
    np.testing.assert_allclose(predictions, np.asarray(model(seq.x)), rtol=1e-6)
    loss = model.evaluate(seq, verbose=0)
    residual = np.asarray(model(seq.x)) - seq.y
    assert loss == pytest.approx(float(np.mean(residual ** 2)), rel=1e-5)
    assert seq.ended == [4, 8]  # predict: batch 0 to build, 0..2; evaluate likewise


def test_steps_per_epoch_wraps_around_and_an_empty_sequence_is_refused():
    seq = Recording(3)
    _model().fit(seq, epochs=1, steps_per_epoch=5, verbose=0, shuffle=False)
    assert seq.read[1:] == [0, 1, 2, 0, 1]
    with pytest.raises(ValueError, match="len"):
        _model().fit(Recording(0), verbose=0)
