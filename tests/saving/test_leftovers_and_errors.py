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
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_a_text_write_that_fails_leaves_no_temporary_file(tmp_path, monkeypatch):
    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_text(tmp_path / "checkpoint", "model_checkpoint_path: \"ckpt-1\"\n")
    assert os.listdir(tmp_path) == []
