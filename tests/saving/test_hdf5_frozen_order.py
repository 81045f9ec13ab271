"""HDF5 weights of a partly unfrozen group: Keras 2 writes and reads a layer's group as its
`trainable_weights + non_trainable_weights`, so the order follows the freezing."""

import numpy as np
import pytest

from xlaflow import keras
from xlaflow.layers import Layer

h5py = pytest.importorskip("h5py")
L = keras.layers


class Block(Layer):
    """A custom layer holding a Dense and a BatchNormalization, with a weight of its own."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(3, name="blk_dense")
        self.norm = L.BatchNormalization(name="blk_norm")

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        super().build(input_shape)

    def call(self, inputs, training=None):
        return self.norm(self.dense(inputs) * self.scale, training=training)


def _block_model():
    block = Block(name="block")
    model = keras.Sequential([keras.Input((3,)), block, L.Dense(2, name="out")])
    block.trainable = False
    block.norm.trainable = True  # frozen through block all the same
    return model, block


def _names(path, group):
    with h5py.File(path, "r") as f:
        return [n.decode() for n in f[group].attrs["weight_names"]]


def test_a_frozen_layer_group_lists_its_own_weights_then_its_sublayers_in_order(tmp_path):
    model, _ = _block_model()
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    assert _names(path, "block") == [
        "block/scale:0", "blk_dense/kernel:0", "blk_dense/bias:0", "blk_norm/gamma:0",
        "blk_norm/beta:0", "blk_norm/moving_mean:0", "blk_norm/moving_variance:0"]


def test_a_file_in_tf_layout_for_a_frozen_block_loads_each_value_in_its_weight(tmp_path):
    model, block = _block_model()
    path = str(tmp_path / "tf.h5")
    order = [block.scale, block.dense.kernel, block.dense.bias, block.norm.gamma,
             block.norm.beta, block.norm.moving_mean, block.norm.moving_variance]
    values = [np.full(w.shape, i + 1, np.float32) for i, w in enumerate(order)]
    names = ["block/scale:0", "blk_dense/kernel:0", "blk_dense/bias:0", "blk_norm/gamma:0",
             "blk_norm/beta:0", "blk_norm/moving_mean:0", "blk_norm/moving_variance:0"]
    out = model.layers[-1]
    with h5py.File(path, "w") as f:  # as TF 2.12's save_weights lays it out
        f.attrs["layer_names"] = [b"block", b"out"]
        group = f.create_group("block")
        group.attrs["weight_names"] = [n.encode() for n in names]
        for name, value in zip(names, values):
            group[name] = value
        group = f.create_group("out")
        group.attrs["weight_names"] = [b"out/kernel:0", b"out/bias:0"]
        group["out/kernel:0"] = np.ones(out.kernel.shape, np.float32)
        group["out/bias:0"] = np.zeros(out.bias.shape, np.float32)
    model.load_weights(path)
    for weight, value in zip(order, values, strict=True):
        np.testing.assert_array_equal(weight.numpy(), value)


def _nested():
    inputs = keras.Input((3,))
    x = L.Dense(4, name="d1")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    base = keras.Model(inputs, L.Dense(3, name="d3")(x), name="base")
    outer = keras.Sequential([keras.Input((3,)), base, L.Dense(2, name="head")])
    base.trainable = False
    base.get_layer("d3").trainable = True
    return outer, base


def test_a_frozen_nested_model_group_lists_its_layers_trainable_weights_first(tmp_path):
    outer, _ = _nested()
    path = str(tmp_path / "w.h5")
    outer.save_weights(path)
    # training.py: a frozen Model's non_trainable_weights are its layers' trainable_weights,
    # then their non-trainable ones
    assert _names(path, "base") == [
        "d3/kernel:0", "d3/bias:0", "d1/kernel:0", "d1/bias:0", "bn/gamma:0", "bn/beta:0",
        "bn/moving_mean:0", "bn/moving_variance:0"]
    copy, _ = _nested()
    copy.load_weights(path)
    for a, b in zip(outer.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_weights_saved_frozen_load_by_name_into_the_unfrozen_model(tmp_path):
    """Frozen, a base's group lists its weights in creation order; unfrozen, trainable
    first. Keras 2 zips them by position (LayerNormalization's gamma would get the moving
    mean): the names, each once in both, put them back where they belong."""
    def make():
        base = keras.Sequential([keras.layers.BatchNormalization(name="bn"),
                                 keras.layers.LayerNormalization(name="ln")], name="base")
        return keras.Sequential([keras.Input((3,)), base, keras.layers.Dense(1, name="head")])

    model = make()
    bn = model.layers[0].layers[0]
    bn.moving_mean.assign(np.array([5.0, 6.0, 7.0], np.float32))
    model.layers[0].trainable = False
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    fresh = make()
    fresh.load_weights(path)
    for got, want in zip(fresh.weights, model.weights, strict=True):
        assert got.name == want.name
        np.testing.assert_array_equal(got.numpy(), want.numpy())
