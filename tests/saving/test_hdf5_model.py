"""model.save("m.h5") and load_model: one HDF5 file in Keras 2's whole-model layout.

Oracles: the saved model itself (a reload predicts the same bits, holds the same weights and
optimizer state, and trains on identically), Keras 2's documented file layout (root
attributes, `model_weights` as save_weights writes it, `optimizer_weights`), and NumPy."""

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras import layers
from xlaflow.saving import hdf5_weights


def _data(n=64, features=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], "float32")[:features]).astype("float32")


def _trained_mlp():
    xf.keras.utils.set_random_seed(1)
    model = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(3,)),
                              layers.Dense(1)], name="mlp")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    return model, x, y


def test_round_trip_predicts_the_same_bits_and_trains_on_identically(tmp_path):
    model, x, y = _trained_mlp()
    path = str(tmp_path / "m.h5")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Dense"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert type(loaded.optimizer).__name__ == "Adam"
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 8
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the restored Adam moments carry on: one more epoch on both stays bit-identical
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss", "mae"}


def test_the_file_has_keras_2s_whole_model_layout(tmp_path):
    model, _, _ = _trained_mlp()
    path = str(tmp_path / "m.h5")
    model.save(path)
    with h5py.File(path, "r") as f:
        assert {"model_config", "training_config", "keras_version", "backend"} <= set(f.attrs)
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Sequential" and config["config"]["name"] == "mlp"
        training = json.loads(f.attrs["training_config"])
        assert training["optimizer_config"]["class_name"] == "Adam"
        assert training["loss"] == "mse"
        weights = f["model_weights"]
        names = [n.decode() for n in weights.attrs["layer_names"]]
        assert names == [layer.name for layer in model.layers]
        for layer in model.layers:
            stored = [np.asarray(weights[layer.name][n.decode()])
                      for n in weights[layer.name].attrs["weight_names"]]
            for a, b in zip(stored, layer.get_weights()):
                np.testing.assert_array_equal(a, b)
        optimizer = f["optimizer_weights"]
        assert len(optimizer.attrs["weight_names"]) == len(model.optimizer.variables)
    assert [n for n in os.listdir(tmp_path)] == ["m.h5"]  # no temporary left behind
    # load_weights reads the weights of a whole-model file, as Keras 2's does
    fresh = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(3,)),
                              layers.Dense(1)])
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_functional_multi_input_model_and_compile_false(tmp_path):
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    h = layers.Concatenate()([layers.Dense(4, name="da")(a), b])
    model = keras.Model([a, b], [layers.Dense(1, name="out")(h), h], name="two")
    xa, xb = np.ones((5, 3), "float32"), np.arange(10, dtype="float32").reshape(5, 2)
    path = str(tmp_path / "two.hdf5")
    model.save(path)  # never compiled: no training_config, no optimizer
    loaded = keras.models.load_model(path, compile=False)
    assert loaded.optimizer is None
    for got, want in zip(loaded.predict([xa, xb], verbose=0),
                         model.predict([xa, xb], verbose=0)):
        np.testing.assert_array_equal(got, want)
    kernel, bias = model.get_layer("da").get_weights()  # NumPy oracle of the first output
    out_kernel, out_bias = model.get_layer("out").get_weights()
    expected = np.concatenate([xa @ kernel + bias, xb], 1) @ out_kernel + out_bias
    np.testing.assert_allclose(loaded.predict([xa, xb], verbose=0)[0], expected, rtol=1e-5)


def test_compiled_but_loaded_with_compile_false_has_no_optimizer(tmp_path):
    model, x, _ = _trained_mlp()
    path = str(tmp_path / "m.h5")
    model.save(path, include_optimizer=False)
    with h5py.File(path, "r") as f:
        assert "optimizer_weights" not in f and "training_config" in f.attrs
    assert keras.models.load_model(path, compile=False).optimizer is None
    recompiled = keras.models.load_model(path)  # compiled afresh: a new Adam
    assert int(recompiled.optimizer.iterations) == 0
    np.testing.assert_array_equal(recompiled.predict(x, verbose=0), model.predict(x, verbose=0))


def test_save_format_h5_and_a_file_read_by_its_content(tmp_path):
    model, x, _ = _trained_mlp()
    path = str(tmp_path / "model_file")  # no suffix: save_format says HDF5
    keras.models.save_model(model, path, save_format="h5")
    assert h5py.is_hdf5(path)
    loaded = keras.models.load_model(path)  # Keras 2 reads a file as HDF5 by its content
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_model_checkpoint_to_an_h5_path_keeps_the_best_model(tmp_path):
    xf.keras.utils.set_random_seed(2)
    model = keras.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x, y = _data(seed=4)
    path = str(tmp_path / "best.h5")
    history = model.fit(x, y, validation_data=(x, y), epochs=4, verbose=0, callbacks=[
        keras.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)])
    best = keras.models.load_model(path)
    assert best.evaluate(x, y, verbose=0) == pytest.approx(min(history.history["val_loss"]),
                                                           rel=1e-5)


def test_errors_name_the_problem_and_leave_the_old_file(tmp_path, monkeypatch):
    model, _, _ = _trained_mlp()
    path = str(tmp_path / "m.h5")
    model.save(path)
    before = Path(path).read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(path, overwrite=False)

    def broken(group, groups):
        raise OSError("disk full")
    monkeypatch.setattr(hdf5_weights, "write_group", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert Path(path).read_bytes() == before and os.listdir(tmp_path) == ["m.h5"]

    unbuilt = keras.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match="no weights yet"):
        unbuilt.save(str(tmp_path / "u.h5"))
    weights_only = str(tmp_path / "w.h5")
    model.save_weights(weights_only)
    with pytest.raises(ValueError, match="weights only.*load_weights"):
        keras.models.load_model(weights_only)
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        keras.models.load_model(str(text))
    with pytest.raises(ValueError, match="save_format must be"):
        model.save(str(tmp_path / "x"), save_format="hdf5")
    other = keras.Sequential([layers.Dense(8, input_shape=(3,)), layers.Dense(2)])
    with h5py.File(path, "r+") as f:  # a file whose architecture and weights disagree
        f.attrs["model_config"] = other.to_json()
    with pytest.raises(ValueError, match=r"load_model: .*shape \(8, 2\).*\(8, 1\)"):
        keras.models.load_model(path)


def _keras2_dense(name, units, activation, extra=None):
    return {"class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": "float32", **(extra or {}), "units": units,
        "activation": activation, "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}}


def test_a_file_in_keras_2_12s_layout_loads_compiled(tmp_path):
    """The file TF 2.12's model.save("m.h5") writes, built here by hand with h5py: Keras 2's
    JSON (an InputLayer entry, a MeanMetricWrapper, the 2.11+ Adam config), weights at
    "<layer>/<layer>/kernel:0", and an optimizer state in TF's order (skipped, warned)."""
    rng = np.random.default_rng(0)
    k1, b1 = rng.normal(size=(3, 4)).astype("f4"), rng.normal(size=4).astype("f4")
    k2, b2 = rng.normal(size=(4, 1)).astype("f4"), rng.normal(size=1).astype("f4")
    model_config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {
            "batch_input_shape": [None, 3], "dtype": "float32", "sparse": False,
            "ragged": False, "name": "dense_input"}},
        _keras2_dense("dense", 4, "relu", {"batch_input_shape": [None, 3]}),
        _keras2_dense("dense_1", 1, "sigmoid")]}}
    training_config = {
        "loss": "binary_crossentropy", "weighted_metrics": None, "loss_weights": None,
        "metrics": [[{"class_name": "MeanMetricWrapper", "config": {
            "name": "accuracy", "dtype": "float32", "fn": "binary_accuracy"}}]],
        "optimizer_config": {"class_name": "Adam", "config": {
            "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
            "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
            "ema_overwrite_frequency": None, "jit_compile": True, "is_legacy_optimizer": False,
            "learning_rate": 0.0020000000949949026, "beta_1": 0.9, "beta_2": 0.999,
            "epsilon": 1e-07, "amsgrad": False}}}
    path = str(tmp_path / "tf_model.h5")
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"], f.attrs["backend"] = "2.12.0", "tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([b"dense", b"dense_1"])
        for name, values in (("dense", (k1, b1)), ("dense_1", (k2, b2))):
            layer = weights.create_group(name)
            names = [f"{name}/kernel:0", f"{name}/bias:0"]
            layer.attrs["weight_names"] = np.array([n.encode() for n in names])
            for n, value in zip(names, values):
                layer.create_dataset(n, data=value)
        optimizer = f.create_group("optimizer_weights")
        optimizer.attrs["weight_names"] = np.array([b"Adam/iter:0"])
        optimizer.create_dataset("Adam/iter:0", data=np.int64(10))
    with pytest.warns(UserWarning, match="written by Keras 2 and is not restored"):
        model = keras.models.load_model(path)
    x = rng.normal(size=(5, 3)).astype("float32")
    expected = 1 / (1 + np.exp(-(np.maximum(x @ k1 + b1, 0) @ k2 + b2)))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert model.metrics_names == ["loss", "accuracy"]
    assert float(model.optimizer.learning_rate) == pytest.approx(0.002)
    assert int(model.optimizer.iterations) == 0
    y = (x[:, :1] > 0).astype("float32")
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    bce = -np.mean(y * np.log(expected) + (1 - y) * np.log(1 - expected))
    assert results["loss"] == pytest.approx(bce, rel=1e-4)
    assert results["accuracy"] == pytest.approx(np.mean((expected > 0.5) == y))
