"""load_weights(path.h5, by_name=True, skip_mismatch=...): Keras 2's load by layer name."""

import logging

import numpy as np
import pytest

from xlaflow import keras

h5py = pytest.importorskip("h5py")
L = keras.layers


def _saved(tmp_path, head_units=4):
    model = keras.Sequential([keras.Input((3,)), L.Dense(5, name="body"),
                              L.BatchNormalization(name="norm"),
                              L.Dense(head_units, name="head")])
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.weights])
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    return model, path


def _new(head_units=2):
    """Another topology: an extra first layer, the body and norm renamed-compatible, a new
    head of another width under the saved head's name."""
    inputs = keras.Input((3,))
    x = L.Dense(3, name="adapter")(inputs)
    x = L.Dense(5, name="body")(x)
    x = L.BatchNormalization(name="norm")(x)
    return keras.Model(inputs, L.Dense(head_units, name="head")(x))


def test_by_name_loads_the_layers_of_the_same_name_whatever_the_topology(tmp_path):
    saved, path = _saved(tmp_path)
    model = _new(head_units=4)
    adapter = model.get_layer("adapter").get_weights()
    assert model.load_weights(path, by_name=True) is None
    for name in ("body", "norm", "head"):
        for a, b in zip(model.get_layer(name).get_weights(),
                        saved.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(model.get_layer("adapter").get_weights(), adapter):
        np.testing.assert_array_equal(a, b)  # no saved layer of that name: left alone


def test_a_shape_mismatch_raises_before_any_weight_changes(tmp_path):
    _, path = _saved(tmp_path)
    model = _new(head_units=2)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"shape mismatch in layer #2 \(named 'head'\): "
                       r"weight head/kernel has shape \(5, 2\), the file's has \(5, 4\)"):
        model.load_weights(path, by_name=True)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_skip_mismatch_skips_each_mismatched_weight_with_a_warning(tmp_path, caplog):
    saved, path = _saved(tmp_path)
    model = _new(head_units=2)
    head = model.get_layer("head").get_weights()
    with caplog.at_level(logging.WARNING, logger="xlaflow.saving"):
        model.load_weights(path, by_name=True, skip_mismatch=True)
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 2 and "head/kernel" in skipped[0] and "head/bias" in skipped[1]
    for a, b in zip(model.get_layer("head").get_weights(), head):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.get_layer("body").get_weights(), saved.get_layer("body").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_weight_count_mismatch_skips_the_whole_layer_with_one_warning(tmp_path, caplog):
    saved, path = _saved(tmp_path)
    inputs = keras.Input((3,))
    x = L.Dense(5, name="body")(inputs)
    x = L.Dense(5, name="norm")(x)  # 2 weights where the file's 'norm' holds 4
    model = keras.Model(inputs, L.Dense(4, name="head")(x))
    with pytest.raises(ValueError, match=r"weight count mismatch for layer #1 \(named 'norm'"):
        model.load_weights(path, by_name=True)
    norm = model.get_layer("norm").get_weights()
    with caplog.at_level(logging.WARNING, logger="xlaflow.saving"):
        model.load_weights(path, by_name=True, skip_mismatch=True)
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 1 and "has 2 weight(s), the file holds 4" in skipped[0]
    for a, b in zip(model.get_layer("norm").get_weights(), norm):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.get_layer("head").get_weights()[0],
                                  saved.get_layer("head").get_weights()[0])


def test_skip_mismatch_without_by_name_is_a_value_error(tmp_path):
    _, path = _saved(tmp_path)
    model = _new(head_units=4)
    with pytest.raises(ValueError, match="skip_mismatch=True needs by_name=True"):
        model.load_weights(path, skip_mismatch=True)


def test_a_file_in_tf_2_12_layout_loads_by_name(tmp_path):
    rng = np.random.default_rng(3)
    kernel, bias = rng.normal(size=(5, 2)).astype(np.float32), np.float32([0.5, -1.0])
    path = str(tmp_path / "keras2.h5")
    with h5py.File(path, "w") as f:  # a whole-model file: weights under model_weights
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [b"input_1", b"old_body", b"head"]
        root.create_group("input_1").attrs["weight_names"] = []
        group = root.create_group("old_body")
        group.attrs["weight_names"] = [b"old_body/kernel:0", b"old_body/bias:0"]
        group["old_body/kernel:0"] = np.ones((3, 5), np.float32)
        group["old_body/bias:0"] = np.ones(5, np.float32)
        group = root.create_group("head")
        group.attrs["weight_names"] = [b"head/kernel:0", b"head/bias:0"]
        group["head/kernel:0"], group["head/bias:0"] = kernel, bias
    model = keras.Sequential([keras.Input((3,)), L.Dense(5, name="body"),
                              L.Dense(2, name="head")])
    body = model.get_layer("body").get_weights()
    model.load_weights(path, by_name=True)
    np.testing.assert_array_equal(model.get_layer("head").kernel.numpy(), kernel)
    np.testing.assert_array_equal(model.get_layer("head").bias.numpy(), bias)
    np.testing.assert_array_equal(model.get_layer("body").get_weights()[0], body[0])


class _Scaled(keras.Model):
    """A subclassed model with a weight of its own beside its layer's."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(2, name="inner")

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(2,), initializer="ones")

    def call(self, inputs):
        return self.dense(inputs) * self.scale


def test_the_models_own_weights_load_from_keras_2_top_level_group(tmp_path):
    path = str(tmp_path / "top.h5")
    kernel, scale = np.full((3, 2), 2.0, np.float32), np.float32([3.0, 4.0])
    with h5py.File(path, "w") as f:  # Keras 2.12 keeps a model's own weights apart
        f.attrs["layer_names"] = [b"inner"]
        group = f.create_group("inner")
        group.attrs["weight_names"] = [b"inner/kernel:0", b"inner/bias:0"]
        group["inner/kernel:0"], group["inner/bias:0"] = kernel, np.zeros(2, np.float32)
        group = f.create_group("top_level_model_weights")
        group.attrs["weight_names"] = [b"scale:0"]
        group["scale:0"] = scale
    model = _Scaled()
    model(np.zeros((1, 3), np.float32))
    model.load_weights(path, by_name=True)
    np.testing.assert_array_equal(model.dense.kernel.numpy(), kernel)
    np.testing.assert_array_equal(model.scale.numpy(), scale)
