"""fit/evaluate/predict with `steps` on finite input, as Keras 2 (TF 2.12) reads it: one
iterator continues across epochs unless steps equal the input's length (DataHandler,
should_recreate_iterator), and input that runs out logs a WARNING and stops early.

Oracle: batch b holds examples of value b, the model is x -> x (weights frozen), so a
batch's mse is b**2 and an epoch's loss is the mean of b**2 over the batches it read.
"""

import logging

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras

BATCH = 2
IDS = np.repeat(np.arange(6), BATCH).astype(np.float32)[:, None]  # 6 batches: 0..5
ZEROS = np.zeros_like(IDS)
WARNING = ("Your input ran out of data; interrupting training. Make sure that your dataset "
           "or generator can generate at least `steps_per_epoch * epochs` batches (in this "
           "case, {} batches). You may need to use the repeat() function when building your "
           "dataset.")


def _model():
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(1,),
                                                 kernel_initializer="ones")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")  # frozen: x -> x
    return model


def _loss(*batches):
    return float(np.mean(np.square(batches)))


def _dataset():
    return xf.data.Dataset.from_tensor_slices((IDS, ZEROS)).batch(BATCH)


def _generator():
    for b in range(6):
        yield IDS[b * BATCH:(b + 1) * BATCH], ZEROS[b * BATCH:(b + 1) * BATCH]


@pytest.fixture
def warnings_logged(caplog):
    """The ran-out warnings logged (Keras 2 logs them, it does not warnings.warn)."""
    with caplog.at_level(logging.WARNING, logger="xlaflow.training"):
        yield lambda: [r.getMessage() for r in caplog.records
                       if r.name == "xlaflow.training" and r.levelno == logging.WARNING]


class Ends(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.begins, self.batches, self.train_ends = [], [], [], 0

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.append(0)
        self.begins.append(0)

    def on_train_batch_begin(self, batch, logs=None):
        self.begins[-1] += 1

    def on_train_batch_end(self, batch, logs=None):
        self.batches[-1] += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_end(self, logs=None):
        self.train_ends += 1


def test_a_dataset_with_fewer_steps_continues_one_iterator_then_runs_out(warnings_logged):
    model, ends = _model(), Ends()
    history = model.fit(_dataset(), epochs=3, steps_per_epoch=4, verbose=0,
                        callbacks=[ends])
    # epoch 2 reads the batches after epoch 1's (not 0..3 again) and runs out after two;
    # it still ends (on_epoch_end, History) and epoch 3 never begins
    np.testing.assert_allclose(history.history["loss"], [_loss(0, 1, 2, 3), _loss(4, 5)],
                               rtol=1e-6)
    assert ends.batches == [4, 2] and ends.epochs == [0, 1] and ends.train_ends == 1
    assert ends.begins == [4, 3]  # Keras 2 begins the step whose read finds the end
    assert int(model.optimizer.iterations) == 6
    assert warnings_logged() == [WARNING.format(12)]  # 3 epochs * 4 steps


def test_steps_equal_to_the_length_read_a_new_pass_each_epoch(warnings_logged):
    history = _model().fit(_dataset(), epochs=3, steps_per_epoch=6, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [_loss(*range(6))] * 3, rtol=1e-6)
    assert warnings_logged() == []


def test_an_epoch_begun_at_the_end_of_the_pass_trains_nothing_and_logs_reset_metrics(
        warnings_logged):
    model, ends = _model(), Ends()
    history = model.fit(_dataset(), epochs=3, steps_per_epoch=3, verbose=0,
                        callbacks=[ends])
    # Keras 2: the third epoch's first read fails; it ends with the metrics just reset
    np.testing.assert_allclose(history.history["loss"],
                               [_loss(0, 1, 2), _loss(3, 4, 5), 0.0], rtol=1e-6)
    assert ends.batches == [3, 3, 0] and int(model.optimizer.iterations) == 6
    assert warnings_logged() == [WARNING.format(9)]


def test_a_repeating_dataset_is_one_iterator_that_never_runs_out(warnings_logged):
    history = _model().fit(_dataset().repeat(), epochs=3, steps_per_epoch=4, verbose=0)
    np.testing.assert_allclose(
        history.history["loss"],
        [_loss(0, 1, 2, 3), _loss(4, 5, 0, 1), _loss(2, 3, 4, 5)], rtol=1e-6)
    assert warnings_logged() == []


def test_a_generator_with_steps_is_read_on_and_runs_out(warnings_logged):
    model = _model()
    history = model.fit(_generator(), epochs=3, steps_per_epoch=4, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [_loss(0, 1, 2, 3), _loss(4, 5)],
                               rtol=1e-6)
    assert int(model.optimizer.iterations) == 6
    assert warnings_logged() == [WARNING.format(12)]


def test_a_generator_without_steps_is_exhausted_by_the_first_epoch(warnings_logged):
    model, ends = _model(), Ends()
    history = model.fit(_generator(), epochs=3, verbose=0, callbacks=[ends])
    # the first pass sets the epoch's length (6); the second epoch finds the generator
    # spent: Keras 2 warns (3 * 6 batches asked for) and ends that epoch with reset metrics
    np.testing.assert_allclose(history.history["loss"], [_loss(*range(6)), 0.0], rtol=1e-6)
    assert ends.batches == [6, 0] and int(model.optimizer.iterations) == 6
    assert warnings_logged() == [WARNING.format(18)]


def test_a_list_of_batches_follows_the_dataset_rule_by_its_length(warnings_logged):
    batches = list(_generator())  # re-iterable, len() 6
    history = _model().fit(batches, epochs=2, steps_per_epoch=6, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [_loss(*range(6))] * 2, rtol=1e-6)
    assert warnings_logged() == []
    history = _model().fit(batches, epochs=2, steps_per_epoch=5, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [_loss(0, 1, 2, 3, 4), _loss(5)],
                               rtol=1e-6)
    assert warnings_logged() == [WARNING.format(10)]


def test_arrays_with_steps_are_cut_from_epochs_passes_then_run_out(warnings_logged):
    model = _model()
    history = model.fit(IDS, ZEROS, batch_size=BATCH, epochs=2, steps_per_epoch=4,
                        shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"],
                               [_loss(0, 1, 2, 3), _loss(4, 5, 0, 1)], rtol=1e-6)
    assert warnings_logged() == []
    # Keras 2's array dataset repeats `epochs` times: 2 epochs of 7 steps ask for 14 of
    # the 12 batches, so the second epoch runs out after 5
    history = model.fit(IDS, ZEROS, batch_size=BATCH, epochs=2, steps_per_epoch=7,
                        shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"],
                               [_loss(0, 1, 2, 3, 4, 5, 0), _loss(1, 2, 3, 4, 5)], rtol=1e-6)
    assert warnings_logged() == [WARNING.format(14)]


def test_arrays_stream_starts_at_initial_epoch_as_keras2(warnings_logged):
    model = _model()
    history = model.fit(IDS, ZEROS, batch_size=BATCH, epochs=3, initial_epoch=1,
                        steps_per_epoch=4, shuffle=False, verbose=0)
    # a fresh stream of epochs - initial_epoch = 2 passes, from batch 0
    np.testing.assert_allclose(history.history["loss"],
                               [_loss(0, 1, 2, 3), _loss(4, 5, 0, 1)], rtol=1e-6)
    assert int(model.optimizer.iterations) == 8 and warnings_logged() == []


def test_arrays_without_batch_size_split_into_steps_batches(warnings_logged):
    class FirstBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(logs["loss"]))

    model, seen = _model(), []
    # Keras 2: batch_size = ceil(12 / 3) = 4, so each epoch of 3 steps is one whole pass
    history = model.fit(IDS, ZEROS, epochs=2, steps_per_epoch=3, shuffle=False, verbose=0,
                        callbacks=[FirstBatch()])
    assert seen[0] == pytest.approx(_loss(0, 0, 1, 1), rel=1e-6)  # rows 0..3
    np.testing.assert_allclose(history.history["loss"], [_loss(*range(6))] * 2, rtol=1e-6)
    assert int(model.optimizer.iterations) == 6 and warnings_logged() == []


def test_arrays_kept_on_the_device_run_out_as_on_the_host(warnings_logged):
    histories = []
    for mode in ("off", "on"):
        with xf.config.override(fit_arrays_on_device=mode):
            histories.append(_model().fit(IDS, ZEROS, batch_size=BATCH, epochs=2,
                                          steps_per_epoch=7, shuffle=False,
                                          verbose=0).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-6)
    assert len(histories[1]) == 2 and warnings_logged() == [WARNING.format(14)] * 2


def test_stop_training_before_the_steps_is_not_running_out(warnings_logged):
    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    model = _model()
    history = model.fit(_dataset(), epochs=3, steps_per_epoch=4, verbose=0,
                        callbacks=[Stop()])
    assert len(history.history["loss"]) == 1 and int(model.optimizer.iterations) == 2
    assert warnings_logged() == []


@pytest.mark.parametrize("source", ["dataset", "arrays", "generator"])
def test_evaluate_with_steps_reads_that_many_or_warns_and_keeps_what_it_read(
        source, warnings_logged):
    def run(steps):
        if source == "arrays":
            return _model().evaluate(IDS, ZEROS, batch_size=BATCH, steps=steps, verbose=0)
        data = _dataset() if source == "dataset" else _generator()
        return _model().evaluate(data, steps=steps, verbose=0)

    assert run(4) == pytest.approx(_loss(0, 1, 2, 3), rel=1e-6)
    assert warnings_logged() == []
    assert run(8) == pytest.approx(_loss(*range(6)), rel=1e-6)
    assert warnings_logged() == [WARNING.format(8)]


def test_evaluate_and_predict_begin_the_step_whose_read_finds_the_end(warnings_logged):
    class Count(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_test_batch_begin(self, batch, logs=None):
            self.calls.append(("begin", batch))

        def on_test_batch_end(self, batch, logs=None):
            self.calls.append(("end", batch))

        on_predict_batch_begin, on_predict_batch_end = on_test_batch_begin, on_test_batch_end

    for run in (lambda cb: _model().evaluate(_dataset(), steps=8, verbose=0, callbacks=[cb]),
                lambda cb: _model().predict(_dataset(), steps=8, verbose=0, callbacks=[cb])):
        count = Count()
        run(count)
        assert count.calls == [c for b in range(6) for c in (("begin", b), ("end", b))] + [
            ("begin", 6)]
        count = Count()  # a full read ends at its last step: no begin after it
        _model().evaluate(_dataset(), verbose=0, callbacks=[count])
        assert count.calls[-1] == ("end", 5) and len(count.calls) == 12


@pytest.mark.parametrize("source", ["dataset", "arrays"])
def test_predict_with_steps_reads_that_many_or_warns_and_keeps_what_it_read(
        source, warnings_logged):
    def run(steps):
        if source == "arrays":
            return _model().predict(IDS, batch_size=BATCH, steps=steps, verbose=0)
        return _model().predict(xf.data.Dataset.from_tensor_slices(IDS).batch(BATCH),
                                steps=steps, verbose=0)

    np.testing.assert_allclose(run(4), IDS[:4 * BATCH], rtol=1e-6)
    assert warnings_logged() == []
    np.testing.assert_allclose(run(8), IDS, rtol=1e-6)
    assert warnings_logged() == [WARNING.format(8)]
