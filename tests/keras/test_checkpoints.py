"""save_weights / load_weights (orbax, atomic) and ModelCheckpoint."""

import os

import numpy as np
import pytest

from tests.local_platform import HERE
from xlaflow.keras import callbacks, layers, models

RNG = np.random.default_rng(7)
X = RNG.normal(size=(40, 4)).astype(np.float32)
Y = (X.sum(-1) > 0).astype(np.int32)


def build():
    model = models.Sequential([layers.Dense(6, activation="relu", input_shape=(4,)),
                               layers.BatchNormalization(),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_weights_round_trip_into_a_fresh_copy(tmp_path):
    model = build()
    model.fit(X, Y, epochs=2, batch_size=10, verbose=0)
    model.save_weights(tmp_path / "w")
    copy = build()  # new layer names: weights are matched by position
    copy.load_weights(tmp_path / "w")
    for a, b in zip(model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(X, verbose=0), copy.predict(X, verbose=0))
    model.save_weights(tmp_path / "w")  # overwriting replaces it atomically
    # as in TF, save_weights names the newest weights in the directory's `checkpoint` file
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "w"]


def test_mismatches_are_named_and_change_nothing(tmp_path):
    build().save_weights(tmp_path / "w")
    other = models.Sequential([layers.Dense(7, input_shape=(4,)), layers.BatchNormalization(),
                               layers.Dense(2)])
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"has shape \(4, 7\), the checkpoint's 0000_kernel has "
                                         r"\(4, 6\)"):
        other.load_weights(tmp_path / "w")
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="nothing does not exist"):
        other.load_weights(tmp_path / "nothing")


def _data_files(path):
    return [os.path.join(parent, n) for parent, _, names in os.walk(path) for n in names
            if os.sep + "d" + os.sep in os.path.join(parent, n) + os.sep]


def test_tampered_or_partial_weights_are_refused_by_file(tmp_path):
    from xlaflow.saving.atomic import CorruptSaveError
    build().save_weights(tmp_path / "w")
    other = build()
    before = other.get_weights()
    victim = min(_data_files(tmp_path / "w"))
    with open(victim, "r+b") as f:  # flip one byte of the stored arrays
        byte = f.read(1)
        f.seek(0)
        f.write(bytes([byte[0] ^ 0xFF]))
    rel = os.path.relpath(victim, tmp_path / "w")
    with pytest.raises(CorruptSaveError, match=f"{rel}.*SHA-256"):
        other.load_weights(tmp_path / "w")
    with open(victim, "r+b") as f:
        f.truncate(1)
    with pytest.raises(CorruptSaveError, match=f"{rel} has 1 bytes"):
        other.load_weights(tmp_path / "w")
    os.remove(tmp_path / "w" / "xlaflow_weights.json")
    with pytest.raises(CorruptSaveError, match="no xlaflow_weights.json: it is incomplete"):
        other.load_weights(tmp_path / "w")
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_each_epoch_and_best_only(tmp_path):
    model = build()
    model.fit(X, Y, epochs=3, batch_size=10, verbose=0, validation_split=0.25, callbacks=[
        callbacks.ModelCheckpoint(str(tmp_path / "e{epoch:02d}"), save_weights_only=True),
        callbacks.ModelCheckpoint(str(tmp_path / "best"), monitor="val_loss",
                                  save_best_only=True, save_weights_only=True)])
    assert sorted(os.listdir(tmp_path)) == ["best", "checkpoint", "e01", "e02", "e03"]
    copy = build()
    copy.load_weights(tmp_path / "e03")
    np.testing.assert_array_equal(copy.predict(X, verbose=0), model.predict(X, verbose=0))


def test_model_checkpoint_saves_the_whole_model(tmp_path):
    model = build()
    model.fit(X, Y, epochs=2, batch_size=10, verbose=0, callbacks=[
        callbacks.ModelCheckpoint(str(tmp_path / "m{epoch}"), platforms=HERE)])
    assert sorted(os.listdir(tmp_path)) == ["m1", "m2"]
    loaded = models.load_model(tmp_path / "m2")
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())


def test_weights_keep_layer_order_when_a_layer_is_frozen(tmp_path):
    model = models.Sequential([layers.Dense(3, input_shape=(3,), name="d1"),
                               layers.BatchNormalization(name="bn"), layers.Dense(3, name="d2")])
    # Keras' order: layer by layer, each layer's weights as created, frozen or not
    order = ["d1/kernel", "d1/bias", "bn/gamma", "bn/beta", "bn/moving_mean",
             "bn/moving_variance", "d2/kernel", "d2/bias"]
    assert [w.name for w in model.weights] == order
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    before, values = np.asarray(model(x)), model.get_weights()
    model.save_weights(str(tmp_path / "w"))
    model.layers[0].trainable = False
    assert [w.name for w in model.weights] == order
    model.set_weights(values)
    np.testing.assert_array_equal(np.asarray(model(x)), before)
    model.load_weights(str(tmp_path / "w"))
    np.testing.assert_array_equal(np.asarray(model(x)), before)
    assert [w.name for w in model.trainable_weights] == ["bn/gamma", "bn/beta", "d2/kernel",
                                                         "d2/bias"]


def test_crashes_between_the_two_renames_never_lose_the_last_save(tmp_path, monkeypatch):
    model = build()
    model.fit(X, Y, epochs=1, verbose=0)
    path = str(tmp_path / "w")
    real_replace = os.replace

    def crash_on_the_second_rename():
        def replace(src, dst):  # the old one is moved away, the new one never arrives
            if os.fspath(dst) == path and ".partial-" in os.fspath(src):
                raise OSError("power cut")
            return real_replace(src, dst)
        return replace

    def crash_once(values):
        model.set_weights(values)
        monkeypatch.setattr(os, "replace", crash_on_the_second_rename())
        with pytest.raises(OSError, match="power cut"):
            model.save_weights(path)
        monkeypatch.setattr(os, "replace", real_replace)

    first = model.get_weights()
    model.save_weights(path)
    crash_once([w + 1 for w in first])  # the last good save is now `w.old-*`
    fresh = build()
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), first):
        np.testing.assert_array_equal(a, b)
    model.set_weights([w + 2 for w in first])
    model.save_weights(path)  # a good save cleans the leftover up
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "w"]
    crash_once([w + 3 for w in first])
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), first):
        np.testing.assert_array_equal(a, b + 2)


def test_load_weights_by_name_of_a_directory_says_what_to_do_instead(tmp_path):
    # Keras 2: by_name reads HDF5 only; a TF-format checkpoint loads by structure
    model = build()
    model.save_weights(str(tmp_path / "w"))
    with pytest.raises(NotImplementedError, match=r"by_name=True\) reads HDF5 files only.*"
                       r"get_weights\(\)/set_weights\(\)"):
        model.load_weights(str(tmp_path / "w"), by_name=True)


def test_model_checkpoint_names_files_by_epoch_and_batch(tmp_path):
    model = build()
    saver = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}"), save_freq=2,
                                      save_weights_only=True)
    model.fit(X, Y, epochs=2, batch_size=10, verbose=0, callbacks=[saver])  # 4 batches
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "e1-b2", "e1-b4", "e2-b2", "e2-b4"]
    wrong = callbacks.ModelCheckpoint(str(tmp_path / "x{nope}"), save_weights_only=True)
    with pytest.raises(KeyError, match=r"names 'nope', which is not among epoch, batch"):
        model.fit(X, Y, epochs=1, batch_size=10, verbose=0, callbacks=[wrong])


def test_a_users_folder_named_like_a_leftover_is_never_deleted_or_loaded(tmp_path):
    model = build()
    (tmp_path / "w.old-version").mkdir()
    (tmp_path / "w.old-version" / "notes.txt").write_text("mine")
    with pytest.raises(FileNotFoundError):
        model.load_weights(str(tmp_path / "w"))  # not a fallback: there is no save
    model.save_weights(str(tmp_path / "w"))
    model.save_weights(str(tmp_path / "w"))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "w", "w.old-version"]
    assert (tmp_path / "w.old-version" / "notes.txt").read_text() == "mine"
