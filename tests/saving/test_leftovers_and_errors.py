"""Second review of saving: no file is left behind by a save that replaced an empty folder
or failed midway, and a directory of the wrong kind is named as such, not as "damaged".

The oracle is the directory listing (exactly the save, nothing else) and the values read
back compared to the ones written."""

import os

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import train
from xlaflow.keras import layers, models
from xlaflow.saving import atomic


def small_model():
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.predict(np.zeros((1, 3), np.float32), verbose=0)
    return model


@pytest.mark.parametrize("save", ["save_weights", "save", "checkpoint_write"])
def test_replacing_an_empty_folder_leaves_only_the_save(tmp_path, save):
    model = small_model()
    target = tmp_path / "out"
    target.mkdir()  # e.g. made by the user (or a tmp dir helper) beforehand
    if save == "checkpoint_write":
        train.Checkpoint(model=model).write(target)
    else:
        getattr(model, save)(target)
    # save_weights also names its newest weights in TF's `checkpoint` state file beside them
    # (tf.train.latest_checkpoint reads it), written atomically too
    expected = ["checkpoint", "out"] if save == "save_weights" else ["out"]
    assert sorted(os.listdir(tmp_path)) == expected


def test_a_text_write_that_fails_leaves_no_temporary_file(tmp_path, monkeypatch):
    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_text(tmp_path / "checkpoint", "model_checkpoint_path: \"ckpt-1\"\n")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value", [np.array(["a", "b"]), np.array([1, None], dtype=object)])
def test_an_array_orbax_cannot_store_is_refused_when_tracked(tmp_path, value):
    with pytest.raises(TypeError, match=r"Checkpoint: table is an array of dtype (<U1|object); "
                                        r"expected numbers or bools"):
        train.Checkpoint(table=value)
    ckpt = train.Checkpoint(table=np.arange(3))
    with pytest.raises(TypeError, match="Checkpoint: table is an array of dtype"):
        ckpt.table = value
    np.testing.assert_array_equal(ckpt.table, np.arange(3))  # unchanged


def test_a_failed_write_leaves_nothing_and_does_not_count_as_a_save(tmp_path, monkeypatch):
    v = xf.Variable(np.arange(4, dtype=np.float32))
    ckpt = train.Checkpoint(v=v)
    from xlaflow.saving import checkpoint as checkpoint_lib

    def fail_after_orbax(path):  # orbax wrote its files; the seal step fails (disk full)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_lib, "seal", fail_after_orbax)
    with pytest.raises(OSError, match="No space left"):
        ckpt.save(tmp_path / "ckpt")
    assert os.listdir(tmp_path) == [] and ckpt.save_counter == 0
    monkeypatch.undo()
    assert ckpt.save(tmp_path / "ckpt").endswith("ckpt-1")


def test_a_failed_orbax_write_leaves_no_orbax_temporary_directory(tmp_path, monkeypatch):
    ckpt = train.Checkpoint(v=xf.Variable(np.ones(2, np.float32)))
    from xlaflow.saving import checkpoint as checkpoint_lib
    real = checkpoint_lib._save_args

    def poisoned(ocp, tree, manifest):  # an array tensorstore refuses, past our checks
        tree = {"v": {k: a.astype("<U3") for k, a in tree["v"].items()}}
        return real(ocp, tree, manifest)

    monkeypatch.setattr(checkpoint_lib, "_save_args", poisoned)
    with pytest.raises(Exception):  # noqa: B017 (whatever orbax raises)
        ckpt.write(tmp_path / "c")
    assert os.listdir(tmp_path) == []


def test_restoring_a_directory_of_checkpoints_names_the_latest(tmp_path):
    v = xf.Variable(np.arange(3, dtype=np.float32))
    ckpt = train.Checkpoint(v=v)
    ckpt.save(tmp_path / "ckpt")
    latest = ckpt.save(tmp_path / "ckpt")
    with pytest.raises(ValueError, match=r"holds checkpoints, it is not one: pass one of them, "
                                         r"e.g\. xf\.train\.latest_checkpoint\(.*\) = "
                                         r".*ckpt-2"):
        ckpt.restore(tmp_path)
    assert latest.endswith("ckpt-2")


@pytest.mark.parametrize("written, reader", [
    ("save_weights", "load_model"), ("save_weights", "saved_model.load"),
    ("save", "load_weights"), ("checkpoint", "load_weights"), ("checkpoint", "load_model")])
def test_a_save_of_another_kind_is_named_with_its_reader(tmp_path, written, reader):
    model = small_model()
    path = tmp_path / "x"
    if written == "checkpoint":
        train.Checkpoint(model=model).write(path)
    else:
        getattr(model, written)(path)
    expected = {"save_weights": r"model\.save_weights.*read it with model\.load_weights",
                "save": r"model\.save or an export.*xf\.keras\.models\.load_model or "
                        r"xf\.saved_model\.load",
                "checkpoint": r"xf\.train\.Checkpoint.*Checkpoint\.restore"}[written]
    with pytest.raises(atomic.CorruptSaveError, match=expected):
        if reader == "load_model":
            models.load_model(path)
        elif reader == "saved_model.load":
            xf.saved_model.load(path)
        else:
            small_model().load_weights(path)


def test_checkpoint_saves_of_another_kind_are_named(tmp_path):
    model = small_model()
    model.save_weights(tmp_path / "w")
    with pytest.raises(ValueError, match=r"model\.save_weights.*read it with "
                                         r"model\.load_weights"):
        train.Checkpoint(model=model).restore(tmp_path / "w")


def test_read_restores_what_write_wrote_without_the_save_counter(tmp_path):
    v = xf.Variable(np.arange(3, dtype=np.float32))
    ckpt = train.Checkpoint(v=v)
    ckpt.save(tmp_path / "ckpt")
    ckpt.save(tmp_path / "ckpt")  # save_counter 2 in what write stores next
    path = ckpt.write(tmp_path / "w")
    v.assign(np.zeros(3, np.float32))
    fresh = train.Checkpoint(v=v)
    fresh.read(path).assert_consumed()
    np.testing.assert_array_equal(v.numpy(), np.arange(3, dtype=np.float32))
    assert fresh.save_counter == 0  # as TF: read() leaves save_counter alone


def test_a_manager_save_below_the_latest_warns_instead_of_silently_skipping(tmp_path):
    v = xf.Variable(np.zeros(2, np.float32))
    manager = train.CheckpointManager(train.Checkpoint(v=v), tmp_path, max_to_keep=3)
    assert manager.save(checkpoint_number=5).endswith("5")
    with pytest.warns(RuntimeWarning, match=r"checkpoint_number=3 is not above the latest "
                                            r"checkpoint \(5\); nothing was saved"):
        assert manager.save(checkpoint_number=3) is None
    manager.close()
    assert sorted(os.listdir(tmp_path)) == ["5", "checkpoint"]
