"""Whole-model and weights HDF5 files in cases a TF user hits: a built model without weights
(preprocessing or activation only), and Keras 2's layer_names, which list every layer, the
ones without weights with an empty weight_names.

Oracles: NumPy's forward pass and Keras 2's documented file layout (save_weights_to_hdf5_group
writes every layer of model.layers, its weight_names possibly empty)."""

import h5py
import numpy as np
import pytest

from xlaflow import keras
from xlaflow.keras import layers

X = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")


def test_a_built_model_without_weights_saves_and_loads_as_h5(tmp_path):
    # Keras 2 saves it; "has no weights yet; build it first" was raised of a built model
    model = keras.Sequential([layers.Input((3,)), layers.Activation("relu"),
                              layers.Rescaling(2.0)])
    assert model.built and not model.weights
    model.save(tmp_path / "m.h5")
    loaded = keras.models.load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), 2 * np.maximum(X, 0), rtol=1e-6)
    model.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert list(f.attrs["layer_names"]) == []
    loaded.load_weights(tmp_path / "w.h5")
    # an unbuilt model is still refused, by name
    unbuilt = keras.Sequential([layers.Activation("relu")], name="later")
    with pytest.raises(ValueError, match="save: later has no weights yet; build it"):
        unbuilt.save(tmp_path / "u.h5")
    with pytest.raises(ValueError, match="load_weights: build later before loading"):
        unbuilt.load_weights(tmp_path / "w.h5")


def test_keras_2_layer_names_with_weightless_layers_load(tmp_path):
    # TF 2.12's save_weights lists the Dropout too, with an empty weight_names
    rng = np.random.default_rng(1)
    kernel, bias = rng.normal(size=(3, 2)).astype("f4"), rng.normal(size=2).astype("f4")
    path = tmp_path / "tf.h5"
    with h5py.File(path, "w") as f:
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.12.0"
        f.attrs["layer_names"] = np.array([b"dropout", b"dense"])
        f.create_group("dropout").attrs["weight_names"] = np.array([])
        dense = f.create_group("dense")
        dense.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        dense.create_dataset("dense/kernel:0", data=kernel)
        dense.create_dataset("dense/bias:0", data=bias)
    model = keras.Sequential([layers.Input((3,)), layers.Dropout(0.5), layers.Dense(2)])
    model.load_weights(path)
    np.testing.assert_allclose(model.predict(X, verbose=0), X @ kernel + bias, rtol=1e-5)


def test_a_keras_v3_archive_without_its_weights_names_what_is_missing(tmp_path):
    # TF 2.12's model.save("m.keras") writes a zip (config.json, model.weights.h5, ...),
    # which load_model reads (tests/saving/test_keras_v3_load.py); one without its weights
    # member says so (it was called "a file but not an HDF5 file", as if it were damaged)
    import zipfile
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "2.12.0"}')
        archive.writestr("config.json", '{"class_name": "Sequential", "config": {}}')
    with pytest.raises(ValueError, match=r"m\.keras is a zip without the \['model\.weights"
                                         r"\.h5'\] of a \.keras model"):
        keras.models.load_model(path)
