"""Keras 2's layer.input / output / input_shape / output_shape over functional-graph calls."""

import numpy as np
import pytest

import xlaflow as xf

keras = xf.keras
layers = keras.layers


def test_a_layer_called_once_in_a_functional_graph_knows_its_tensors_and_shapes():
    x = keras.Input((3,))
    dense = layers.Dense(4)
    hidden = dense(x)
    out = layers.Dense(2)(hidden)
    model = keras.Model(x, out)
    assert dense.input is x and dense.output is hidden
    assert dense.input_shape == (None, 3) and dense.output_shape == (None, 4)
    assert model.input is x and model.output is out
    assert keras.Model([x], [out]).input is x  # a list of one is that one, as Keras 2


def test_a_layer_of_several_inputs_reports_them_as_a_list():
    a, b = keras.Input((3,)), keras.Input((4,))
    concat = layers.Concatenate()
    concat([a, b])
    assert concat.input_shape == [(None, 3), (None, 4)]
    assert concat.input == [a, b] and concat.output_shape == (None, 7)


def test_an_unconnected_layer_raises_keras_attribute_errors_so_hasattr_is_false():
    dense = layers.Dense(2)
    dense(np.ones((1, 3), np.float32))  # an eager call connects nothing, as in Keras 2
    assert not hasattr(dense, "input_shape") and not hasattr(dense, "output")
    with pytest.raises(AttributeError, match='The layer "dense.*" has never been called and '
                       "thus has no defined input shape"):
        dense.input_shape  # noqa: B018
    with pytest.raises(AttributeError, match="no defined output shape"):
        dense.output_shape  # noqa: B018
    with pytest.raises(AttributeError, match="is not connected, no input to return"):
        dense.input  # noqa: B018
    with pytest.raises(AttributeError, match="has no inbound nodes"):
        dense.output  # noqa: B018
    with pytest.raises(RuntimeError, match="never been called"):
        dense.get_output_shape_at(0)


def test_a_layer_shared_between_shapes_has_no_single_shape_but_one_per_node():
    shared = layers.Activation("relu")
    a, b = keras.Input((3,)), keras.Input((5,))
    out_a, out_b = shared(a), shared(b)
    with pytest.raises(AttributeError, match='multiple inbound nodes, with different input '
                       r"shapes.*get_input_shape_at\(node_index\)"):
        shared.input_shape  # noqa: B018
    with pytest.raises(AttributeError, match="different output shapes"):
        shared.output_shape  # noqa: B018
    assert shared.get_input_shape_at(1) == (None, 5)
    assert shared.get_output_shape_at(0) == (None, 3)
    assert shared.get_input_at(1) is b and shared.get_output_at(1) is out_b
    assert shared.input is a and shared.output is out_a  # Keras 2: the first call's
    with pytest.raises(ValueError, match="at node 2, but the layer has only 2 inbound nodes"):
        shared.get_input_at(2)
    same = layers.Activation("relu")
    same(keras.Input((3,)))
    same(keras.Input((3,)))
    assert same.input_shape == (None, 3)  # shared at one shape: well defined


def test_sequential_with_an_input_shape_connects_its_layers_for_feature_extraction():
    model = keras.Sequential([layers.Dense(4, input_shape=(3,), activation="relu"),
                              layers.Dense(2)])
    model.add(layers.Dense(5))
    first, second, third = model.layers
    assert [layer.input_shape for layer in model.layers] == [(None, 3), (None, 4), (None, 2)]
    assert third.output_shape == (None, 5) and model.output is third.output
    assert model.input.shape == (None, 3) and first.input is model.input
    features = keras.Model(model.input, second.output)
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    (k1, b1), (k2, b2) = first.get_weights(), second.get_weights()
    want = np.maximum(x @ k1 + b1, 0) @ k2 + b2  # NumPy: the same weights, not copies
    np.testing.assert_allclose(np.asarray(features(x)), want, rtol=1e-5, atol=1e-6)
    model.pop()
    model.add(layers.Dense(7))
    assert model.layers[-1].input_shape == (None, 2) and model.output.shape == (None, 7)


def test_a_sequential_without_an_input_shape_has_no_connected_layers():
    model = keras.Sequential([layers.Dense(4)])
    with pytest.raises(AttributeError, match="never been called"):
        model.layers[0].input_shape  # noqa: B018
    with pytest.raises(AttributeError, match="is not connected"):
        model.input  # noqa: B018


def test_sequential_build_connects_its_layers_as_keras_2s_does():
    """Keras 2's Sequential.build(input_shape) makes the graph network: after it, layers
    know their shapes and `Model(model.input, layer.output)` extracts features."""
    model = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2)])
    model.build((None, 3))
    first, second = model.layers
    assert first.output_shape == (None, 4) and second.output_shape == (None, 2)
    assert model.input.shape == (None, 3) and model.output is second.output
    features = keras.Model(model.input, first.output)
    x = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    kernel, bias = first.get_weights()
    np.testing.assert_allclose(np.asarray(features(x)), np.maximum(x @ kernel + bias, 0),
                               rtol=1e-5, atol=1e-6)
    model.add(layers.Dense(6))  # and later layers connect on add, as after an input_shape
    assert model.layers[-1].input_shape == (None, 2) and model.output_shape == (None, 6)


def test_a_sequential_built_by_build_is_rebuilt_by_its_config():
    """Keras 2 records build()'s shape as the config's build_input_shape and from_config
    builds again: from_config and model_from_json of such a model come back connected."""
    model = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2)])
    model.build((None, 3))
    assert model.get_config()["build_input_shape"] == [None, 3]
    for copy in (keras.Sequential.from_config(model.get_config()),
                 keras.models.model_from_json(model.to_json())):
        assert copy.output_shape == (None, 2) and copy.layers[0].output_shape == (None, 4)
        copy.set_weights(model.get_weights())
        x = np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32)
        np.testing.assert_allclose(np.asarray(copy(x)), np.asarray(model(x)), rtol=1e-6)
    declared = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    assert "build_input_shape" not in declared.get_config()  # its layer declares the shape
