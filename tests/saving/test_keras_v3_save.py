"""model.save("m.keras") writes TF 2.12's zip, and load_model of it round-trips.

Oracles: the layout TF 2.12 writes (the member names, the h5 paths Keras 2.12's
saving_lib gives a Sequential's layers and Adam's variables, Keras' module names in the
config), the saved model's own predictions and optimizer variables (bit-equal after a
load), and the file bytes before a failed or refused save."""

import io
import json
import os
import zipfile

import h5py
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.saving import keras_v3

keras = xf.keras
layers = keras.layers
RNG = np.random.default_rng(11)
X = RNG.normal(size=(16, 4)).astype(np.float32)
Y = RNG.normal(size=(16, 1)).astype(np.float32)


def _members(path):
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
        metadata = json.loads(zf.read("metadata.json"))
        found = []
        with h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as f:
            f.visititems(lambda name, item: found.append(name) if isinstance(
                item, h5py.Dataset) else None)
        return sorted(zf.namelist()), config, metadata, sorted(found)


def _trained(model, optimizer="adam"):
    model.compile(optimizer, "mse", metrics=["mae"])
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    return model


def _same_state(model, loaded):
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value))
    assert loaded.evaluate(X, Y, verbose=0) == model.evaluate(X, Y, verbose=0)


def test_a_sequential_is_written_in_tf_2_12s_layout_and_round_trips(tmp_path):
    model = _trained(keras.Sequential([layers.Input((4,)), layers.Dense(8, activation="relu"),
                                       layers.Dropout(0.2), layers.Dense(1)]))
    path = str(tmp_path / "m.keras")
    model.save(path)
    names, config, metadata, datasets = _members(path)
    assert names == ["config.json", "metadata.json", "model.weights.h5"]
    assert metadata["keras_version"] == "2.12.0"
    prefix = "_layer_checkpoint_dependencies"
    assert datasets == sorted([f"{prefix}/dense/vars/0", f"{prefix}/dense/vars/1",
                               f"{prefix}/dense_2/vars/0", f"{prefix}/dense_2/vars/1",
                               *(f"optimizer/vars/{i}" for i in range(9))])
    assert (config["module"], config["class_name"], config["registered_name"]) == (
        "keras", "Sequential", None)
    dense = config["config"]["layers"][1]
    assert (dense["module"], dense["class_name"], dense["registered_name"]) == (
        "keras.layers", "Dense", None)
    assert dense["config"]["kernel_initializer"]["module"] == "keras.initializers"
    assert config["build_config"] == {"input_shape": [None, 4]}
    assert config["compile_config"]["loss"] == "mse"
    assert config["compile_config"]["optimizer"]["module"] == "keras.optimizers"
    with zipfile.ZipFile(path) as zf, h5py.File(io.BytesIO(zf.read("model.weights.h5"))) as f:
        # TF's order: the iteration (int64), then m and v of each weight in turn
        assert f["optimizer/vars/0"].dtype == np.int64
        assert int(f["optimizer/vars/0"][()]) == int(model.optimizer.iterations) == 4
        owners = model.optimizer.slot_owners()
        kernel = model.layers[0].kernel
        slot = {owners[id(s)][1]: s for s in model.optimizer.variables
                if id(s) in owners and owners[id(s)][0] is kernel}
        m, v = slot["m"], slot["v"]
        np.testing.assert_array_equal(f["optimizer/vars/1"][()], np.asarray(m.value))
        np.testing.assert_array_equal(f["optimizer/vars/2"][()], np.asarray(v.value))
        np.testing.assert_array_equal(f[f"{prefix}/dense_2/vars/0"][()],
                                      np.asarray(model.layers[2].kernel.value))
    _same_state(model, keras.models.load_model(path))


def _without_xlaflow_part(path, target):
    """The file as TF 2.12 would see it: Keras' config only."""
    with zipfile.ZipFile(path) as zf, zipfile.ZipFile(target, "w") as out:
        for name in zf.namelist():
            data = zf.read(name)
            if name == "config.json":
                config = json.loads(data)
                config.pop(keras_v3.XLAFLOW)
                data = json.dumps(config)
            out.writestr(name, data)
    return target


def test_keras_own_config_rebuilds_a_functional_model_as_saved(tmp_path):
    inputs = layers.Input((4,))
    merged = layers.Add()([layers.Dense(3, activation="tanh")(inputs), layers.Dense(3)(inputs)])
    model = _trained(keras.Model(inputs, layers.Dense(1)(merged)))
    path = str(tmp_path / "f.keras")
    model.save(path)
    _, config, _, _ = _members(path)
    assert (config["class_name"], config["registered_name"]) == ("Functional", "Functional")
    add = next(e for e in config["config"]["layers"] if e["class_name"] == "Add")
    first, second = (e["name"] for e in config["config"]["layers"][1:3])
    assert add["inbound_nodes"] == [[[first, 0, 0, {}], [second, 0, 0, {}]]]
    loaded = keras.models.load_model(_without_xlaflow_part(path, str(tmp_path / "tf.keras")))
    _same_state(model, loaded)


def test_an_optimizer_tf_has_no_known_order_for_round_trips_in_xlaflows(tmp_path):
    model = _trained(keras.Sequential([layers.Input((4,)), layers.Dense(2), layers.Dense(1)]),
                     keras.optimizers.Nadam(0.01))
    path = str(tmp_path / "n.keras")
    model.save(path)
    _, _, _, datasets = _members(path)
    assert not any(d.startswith("optimizer/") for d in datasets)
    assert sum(d.startswith("xlaflow_optimizer/vars/") for d in datasets) == len(
        model.optimizer.variables)
    _same_state(model, keras.models.load_model(path))


class Tower(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(5, activation="relu")
        self.head = layers.Dense(1)
        self.blocks = [layers.Dense(5), layers.Dense(5)]

    def call(self, x):
        return self.head(self.blocks[1](self.blocks[0](self.hidden(x))))


def test_a_subclassed_model_keeps_its_layers_under_their_attributes(tmp_path):
    model = _trained(Tower())
    path = str(tmp_path / "t.keras")
    model.save(path)
    _, _, _, datasets = _members(path)
    assert {"head/vars/0", "head/vars/1", "hidden/vars/0", "hidden/vars/1",
            "blocks/dense/vars/0", "blocks/dense_1/vars/1"} <= set(datasets)
    _same_state(model, keras.models.load_model(path, custom_objects={"Tower": Tower}))


def test_the_directory_form_at_a_keras_path_still_loads_and_a_save_replaces_it(tmp_path):
    model = _trained(keras.Sequential([layers.Input((4,)), layers.Dense(1)]))
    path = str(tmp_path / "old.keras")
    model.save(path, save_format="tf")  # what xlaflow wrote for .keras before
    assert os.path.isdir(path)
    _same_state(model, keras.models.load_model(path))
    model.save(path)
    assert zipfile.is_zipfile(path)
    assert sorted(os.listdir(tmp_path)) == ["old.keras"]
    _same_state(model, keras.models.load_model(path))


def test_a_refused_or_failed_save_leaves_the_file_there_untouched(tmp_path, monkeypatch):
    model = _trained(keras.Sequential([layers.Input((4,)), layers.Dense(1)]))
    path = str(tmp_path / "m.keras")
    model.save(path)
    with open(path, "rb") as f:
        before = f.read()
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(path, overwrite=False)
    with pytest.raises(ValueError, match=r"save_format='keras' needs a filepath ending in "
                                         r"\.keras; received '.*m\.zip'"):
        model.save(str(tmp_path / "m.zip"), save_format="keras")

    def half_written(target, *args):
        with open(target, "wb") as f:
            f.write(b"PK\x03\x04 half")
        raise OSError("disk full")

    monkeypatch.setattr(keras_v3, "_write_zip", half_written)
    model.layers[0].kernel.assign(np.zeros((4, 1), np.float32))
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    with open(path, "rb") as f:
        assert f.read() == before
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]
    folder = tmp_path / "mine.keras"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a save")
    monkeypatch.undo()
    with pytest.raises(FileExistsError, match="not an xlaflow save"):
        model.save(str(folder))
    assert (folder / "notes.txt").read_text() == "not a save"


@xf.keras.saving.register_serializable(package="V3Save")
class Shift(layers.Layer):
    def __init__(self, amount=0.0, **kwargs):
        super().__init__(**kwargs)
        self.amount = amount

    def call(self, x):
        return x + self.amount

    def get_config(self):
        return {**super().get_config(), "amount": self.amount}


def test_a_registered_layer_is_saved_under_its_registered_name(tmp_path):
    model = keras.Sequential([layers.Input((4,)), Shift(2.0), layers.Dense(1)])
    path = str(tmp_path / "r.keras")
    model.save(path)
    _, config, _, datasets = _members(path)
    shift = config["config"]["layers"][1]
    assert (shift["class_name"], shift["registered_name"]) == ("Shift", "V3Save>Shift")
    assert shift["module"] == __name__
    assert "_layer_checkpoint_dependencies/dense/vars/0" in datasets
    loaded = keras.models.load_model(_without_xlaflow_part(path, str(tmp_path / "tf.keras")))
    assert isinstance(loaded.layers[0], Shift) and loaded.layers[0].amount == 2.0
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


class Offset(keras.Model):
    """A subclassed model with a weight of its own (TF keeps it in the root `vars`)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(1)
        self.offset = self.add_weight(name="offset", shape=(1,), initializer="ones")

    def call(self, x):
        return self.dense(x) + self.offset


def test_an_inner_model_and_a_models_own_weight_are_kept_where_tf_keeps_them(tmp_path):
    inner = keras.Sequential([layers.Dense(3, activation="relu"), layers.Dense(2)])
    inputs = layers.Input((4,))
    model = _trained(keras.Model(inputs, layers.Dense(1)(inner(inputs))))
    path = str(tmp_path / "nested.keras")
    model.save(path)
    _, _, _, datasets = _members(path)
    prefix = "_layer_checkpoint_dependencies"
    assert {f"{prefix}/sequential/{prefix}/dense/vars/0",
            f"{prefix}/sequential/{prefix}/dense_2/vars/1", f"{prefix}/dense/vars/0"} <= set(
        datasets)
    _same_state(model, keras.models.load_model(path))
    own = _trained(Offset())
    own.offset.assign(np.array([2.5], np.float32))
    own.save(str(tmp_path / "own.keras"))
    _, _, _, datasets = _members(str(tmp_path / "own.keras"))
    assert "vars/0" in datasets and "dense/vars/0" in datasets
    loaded = keras.models.load_model(str(tmp_path / "own.keras"),
                                     custom_objects={"Offset": Offset})
    assert float(loaded.offset.numpy()[0]) == 2.5
    _same_state(own, loaded)


def test_saved_model_load_of_a_keras_zip_says_what_it_is(tmp_path):
    model = xf.keras.Sequential([xf.keras.Input((2,)), xf.keras.layers.Dense(1)])
    model.save(str(tmp_path / "m.keras"))
    with pytest.raises(ValueError, match=r"is a Keras \.keras zip.*keras\.models\.load_model"):
        xf.saved_model.load(str(tmp_path / "m.keras"))
