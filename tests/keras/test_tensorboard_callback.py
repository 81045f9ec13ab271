"""keras.callbacks.TensorBoard with Keras 2's arguments: `histogram_freq` writes each
weight's histogram every N epochs (read back from the event files and checked against the
weights: count, sum, min, max); what is not provided says so."""

import numpy as np
import pytest

from tests.test_summary import read_events
from xlaflow import keras


def test_histogram_freq_writes_the_weights_every_n_epochs(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 4)).astype(np.float32), rng.random((64, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
                              keras.layers.Dense(1, name="out")])
    model.compile("sgd", "mse")
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path), histogram_freq=2)
    model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[board])
    events = read_events(tmp_path / "train")
    names = [w.name.replace(":", "_") for w in model.weights]
    assert len(names) == 4
    for name, weight in zip(names, model.get_weights()):
        steps = [step for step, _ in events[name]]
        assert steps == [0, 2, 4]  # epochs 0, 2 and 4
        histo = events[name][-1][1]  # the last epoch's: the final weights
        values = np.asarray(weight, np.float64)
        assert histo.num == values.size
        assert histo.sum == pytest.approx(values.sum(), rel=1e-5, abs=1e-6)
        assert histo.min == pytest.approx(values.min()) and histo.max == pytest.approx(
            values.max())
    assert [step for step, _ in events["epoch_loss"]] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("argument", [{"write_images": True}, {"embeddings_freq": 1},
                                      {"embeddings_metadata": "meta.tsv"}])
def test_what_is_not_provided_says_so(tmp_path, argument):
    name = next(iter(argument))
    with pytest.raises(NotImplementedError, match=name):
        keras.callbacks.TensorBoard(log_dir=str(tmp_path), **argument)


def test_keras_defaults_are_accepted_and_bad_frequencies_refused(tmp_path):
    keras.callbacks.TensorBoard(log_dir=str(tmp_path), histogram_freq=0, write_graph=True,
                                write_images=False, update_freq="epoch", profile_batch=0)
    with pytest.raises(ValueError, match="histogram_freq must be an int >= 0; received -1"):
        keras.callbacks.TensorBoard(log_dir=str(tmp_path), histogram_freq=-1)


def test_each_epochs_scalars_are_in_the_files_when_the_epoch_ends(tmp_path):
    # The event files are complete at each epoch's end (a TensorBoard process reading
    # during training sees every epoch so far) and when fit returns, through xf.summary's
    # synchronous writer: a queued writer's flush does not wait for its thread.
    rng = np.random.default_rng(1)
    x, y = rng.random((48, 3)).astype(np.float32), rng.random((48, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    seen = []

    def read(epoch, logs):
        train, validation = read_events(tmp_path / "train"), read_events(
            tmp_path / "validation")
        seen.append(([s for s, _ in train.get("epoch_loss", [])],
                     [s for s, _ in validation.get("epoch_mae", [])]))

    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.25,
                        callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path)),
                                   keras.callbacks.LambdaCallback(on_epoch_end=read)])
    assert seen == [([0], [0]), ([0, 1], [0, 1]), ([0, 1, 2], [0, 1, 2])]
    train, validation = read_events(tmp_path / "train"), read_events(tmp_path / "validation")
    for tag, run, key in (("epoch_loss", train, "loss"), ("epoch_mae", train, "mae"),
                          ("epoch_loss", validation, "val_loss"),
                          ("epoch_mae", validation, "val_mae")):
        assert [s for s, _ in run[tag]] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in run[tag]], history.history[key], rtol=1e-6)


def _fit(tmp_path, epochs=2, **board):
    rng = np.random.default_rng(2)
    x, y = rng.random((64, 3)).astype(np.float32), rng.random((64, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path), **board)])


def test_write_steps_per_second_writes_keras_tags(tmp_path):
    _fit(tmp_path, write_steps_per_second=True, update_freq=2)
    train = read_events(tmp_path / "train")
    assert [step for step, _ in train["epoch_steps_per_second"]] == [0, 1]
    assert [step for step, _ in train["batch_steps_per_second"]] == [2, 4, 6, 8]
    assert all(value > 0 for _, value in train["epoch_steps_per_second"] +
               train["batch_steps_per_second"])


@pytest.mark.parametrize("profile_batch", [3, (2, 5), "2,5"])
def test_profile_batch_writes_a_trace_for_the_profile_plugin(tmp_path, profile_batch):
    _fit(tmp_path, profile_batch=profile_batch)  # batches 1-8 over two epochs
    runs = list((tmp_path / "train" / "plugins" / "profile").iterdir())
    assert len(runs) == 1 and any(p.name.endswith(".xplane.pb") for p in runs[0].iterdir())


def test_a_profile_range_past_the_end_of_fit_is_closed_at_train_end(tmp_path):
    _fit(tmp_path, epochs=1, profile_batch=(3, 100))
    _fit(tmp_path / "again", epochs=1, profile_batch=2)  # a second trace can start
    assert (tmp_path / "again" / "train" / "plugins" / "profile").is_dir()


@pytest.mark.parametrize("profile_batch", [-1, (3, 2), (0, 4), "a,b", (1, 2, 3), 1.5])
def test_bad_profile_batch_is_keras_value_error(tmp_path, profile_batch):
    with pytest.raises(ValueError, match="profile_batch must be a non-negative integer or "
                                         "2-tuple of positive integers.*Found: "):
        keras.callbacks.TensorBoard(log_dir=str(tmp_path), profile_batch=profile_batch)
