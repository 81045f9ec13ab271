"""keras.models.clone_model: same architecture and config, new weights, as Keras 2."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


def _distinct_weights(a, b):
    ids = {id(v) for v in a.weights}
    return not any(id(v) in ids for v in b.weights)


def test_clone_sequential_has_same_config_and_new_weights():
    model = keras.Sequential([keras.layers.Dense(4, activation="relu", input_shape=(3,)),
                              keras.layers.Dense(2)], name="seq")
    clone = keras.models.clone_model(model)
    assert isinstance(clone, keras.Sequential) and clone.name == "seq"
    assert clone.get_config() == model.get_config()
    assert _distinct_weights(model, clone) and len(clone.weights) == len(model.weights)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x), model(x), rtol=1e-6)
    before = [np.array(w) for w in model.get_weights()]
    clone.layers[0].kernel.assign(np.zeros((3, 4), np.float32))
    for w, b in zip(model.get_weights(), before):  # the original keeps its weights
        np.testing.assert_array_equal(w, b)


def test_clone_functional_keeps_shared_layers_and_multiple_inputs():
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    shared = keras.layers.Dense(2, name="shared")
    out = keras.layers.Concatenate()([shared(a), shared(b)])
    out = keras.layers.Dense(1, name="head")(out)
    model = keras.Model([a, b], out, name="twin")
    clone = keras.models.clone_model(model)
    assert clone.name == "twin" and clone.get_config() == model.get_config()
    assert _distinct_weights(model, clone)
    assert len(clone.trainable_weights) == 4  # the shared Dense stays one layer
    clone.set_weights(model.get_weights())
    rng = np.random.default_rng(1)
    xa, xb = (rng.normal(size=(4, 3)).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(clone([xa, xb]), model([xa, xb]), rtol=1e-6)
    # the oracle: the graph written out in NumPy with the original weights
    k, bias, hk, hb = model.get_weights()
    expected = np.concatenate([xa @ k + bias, xb @ k + bias], -1) @ hk + hb
    np.testing.assert_allclose(model([xa, xb]), expected, rtol=1e-5)


def test_clone_function_and_input_tensors():
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2, name="d")(inp))
    shared = keras.models.clone_model(model, clone_function=lambda layer: layer)
    assert shared.layers[-1] is model.layers[-1]  # the identity clone_function shares

    def no_bias(layer):
        config = layer.get_config()
        config["use_bias"] = False
        return layer.__class__.from_config(config)

    slim = keras.models.clone_model(model, clone_function=no_bias)
    assert len(slim.weights) == 1
    new_input = keras.Input((3,), name="fresh")
    rebuilt = keras.models.clone_model(model, input_tensors=[new_input])
    # Keras 2: the clone is built on the given Input, whose InputLayer leads its layers
    assert rebuilt.input is new_input and rebuilt.layers[0].name == "fresh"
    assert rebuilt.get_config()["layers"][0]["config"]["name"] == "fresh"
    seq = keras.Sequential([keras.layers.Dense(2)])
    on_input = keras.models.clone_model(seq, input_tensors=keras.Input((5,)))
    assert on_input.layers[0].kernel.shape == (5, 2)
    with pytest.raises(ValueError, match="has 1 input\\(s\\), but input_tensors holds 2"):
        keras.models.clone_model(model, input_tensors=[new_input, keras.Input((3,))])
    with pytest.raises(TypeError, match="must return a Layer"):
        keras.models.clone_model(model, clone_function=lambda layer: None)

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="subclassed model"):
        keras.models.clone_model(Sub())
    assert xf.keras.models.clone_model is keras.models.clone_model
