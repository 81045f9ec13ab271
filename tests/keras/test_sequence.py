"""keras.utils.Sequence in fit/evaluate/predict: every batch index read once per epoch (in
a shuffled order when fit shuffles), and `on_epoch_end` after each epoch, as Keras 2."""

import logging

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


def test_steps_per_epoch_beyond_the_length_runs_out_and_an_empty_sequence_is_refused(
        caplog):
    # Keras 2 (KerasSequenceAdapter, workers=1): a new pass of len() batches each epoch;
    # steps_per_epoch beyond it runs out: a WARNING, and fit stops after that epoch
    seq, model = Recording(3), _model()
    with caplog.at_level(logging.WARNING, logger="xlaflow.training"):
        history = model.fit(seq, epochs=2, steps_per_epoch=5, verbose=0, shuffle=False)
    assert seq.read[1:] == [0, 1, 2]
    assert len(history.history["loss"]) == 1 and int(model.optimizer.iterations) == 3
    assert seq.ended == [4]  # the epoch that ran out still ends
    assert "(in this case, 10 batches)" in caplog.text
    with pytest.raises(ValueError, match="len"):
        _model().fit(Recording(0), verbose=0)


def test_with_workers_steps_per_epoch_wraps_around_as_keras2_worker_queue():
    # Keras 2's OrderedEnqueuer (workers > 1 or use_multiprocessing) goes round the
    # Sequence, calling on_epoch_end at each wrap; each epoch starts a new queue at 0
    seq = Recording(3)
    _model().fit(seq, epochs=2, steps_per_epoch=5, verbose=0, shuffle=False, workers=2)
    assert seq.read[1:] == [0, 1, 2, 0, 1] * 2
    assert seq.ended == [4, 6, 9, 11]  # at the wrap and at each epoch's end
