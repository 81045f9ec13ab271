"""save_weights directories: format 2 stores Keras 2's `weights` order; a format 1 directory
(written in the earlier layer-by-layer creation order) still loads each value onto its own
weight, even where the two orders give the same keys and shapes."""

import os

import numpy as np

from xlaflow import keras
from xlaflow.saving import arrays, atomic
from xlaflow.saving import weights as weights_format

layers = keras.layers


class TwoDense(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = layers.Dense(3)
        self.second = layers.Dense(3)

    def call(self, x):
        return self.second(self.first(x))


def _model():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, TwoDense()(inputs))
    model.layers[-1].first.trainable = False  # Keras 2 lists `second` first now
    return model


def _values():
    rng = np.random.default_rng(0)
    return {"first": (rng.normal(size=(3, 3)), rng.normal(size=3)),
            "second": (rng.normal(size=(3, 3)), rng.normal(size=3))}


def _assert_loaded(model, values):
    block = model.layers[-1]
    for name in ("first", "second"):
        kernel, bias = values[name]
        np.testing.assert_allclose(getattr(block, name).kernel.numpy(), kernel, rtol=1e-6)
        np.testing.assert_allclose(getattr(block, name).bias.numpy(), bias, rtol=1e-6)


def test_a_format_1_directory_loads_in_the_order_it_was_written(tmp_path):
    values = _values()
    # format 1's keys: position in the old layer-by-layer creation order (first, second),
    # which are also format 2's keys for (second, first): equal names and shapes
    stored = {"0000_kernel": values["first"][0], "0001_bias": values["first"][1],
              "0002_kernel": values["second"][0], "0003_bias": values["second"][1]}
    stored = {k: np.asarray(v, np.float32) for k, v in stored.items()}
    path = str(tmp_path / "v1")
    atomic.write_directory(
        path, lambda tmp: arrays.save_arrays(os.path.join(tmp, "weights"), stored),
        manifest=weights_format.MANIFEST,
        header={"format": weights_format.FORMAT, "format_version": 1}, what="test")
    model = _model()
    block = model.layers[-1]
    assert [id(w) for w in model.weights] == [id(w) for w in (
        block.second.kernel, block.second.bias, block.first.kernel, block.first.bias)]
    model.load_weights(path)
    _assert_loaded(model, values)


def test_format_2_round_trips_a_frozen_sublayer_into_a_fresh_copy(tmp_path):
    model, values = _model(), _values()
    block = model.layers[-1]
    for name in ("first", "second"):
        getattr(block, name).set_weights([np.float32(v) for v in values[name]])
    model.save_weights(str(tmp_path / "w"))
    copy = _model()
    copy.load_weights(str(tmp_path / "w"))
    _assert_loaded(copy, values)
