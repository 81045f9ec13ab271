"""Keras 2's functional model configs (TF 2.12's `model.to_json()`, written by hand as it
writes them) rebuilt by `keras.models.model_from_json`: shared layers, node forms, nested
models, TF op layers and later formats, the forward pass against NumPy."""

import json

import numpy as np
import pytest

from tests.saving.keras2_json import (
    TOWER_ENTRIES,
    TOWERS,
    bn,
    check_towers,
    dense,
    fill,
    functional,
    input_layer,
    layer_entry,
    random_weights,
    sequential,
    summary,
)
from xlaflow import keras


@pytest.mark.parametrize("class_name", ["Functional", "Model"])  # TF < 2.4 wrote "Model"
def test_functional_with_two_inputs_two_outputs_a_shared_layer_and_concatenate(class_name):
    text = TOWERS.replace('{"class_name": "Functional"', fill('{"class_name": "@"', class_name))
    check_towers(keras.models.model_from_json(text))


def test_layers_listed_before_their_inputs_are_replayed_once_those_exist():
    # Keras 2's reconstruct_from_config retries a node whose inputs are not made yet
    reordered = functional("towers", [TOWER_ENTRIES[i] for i in (5, 4, 3, 2, 1, 0)],
                           [["a", 0, 0], ["b", 0, 0]], [["out1", 0, 0], ["out2", 0, 0]])
    model = keras.models.model_from_json(reordered)
    assert model.get_layer("out2").input is model.get_layer("shared").get_output_at(1)
    check_towers(model)


def keras_tensor(layer, node, index, shape):
    return {"class_name": "__keras_tensor__", "config": {
        "shape": shape, "dtype": "float32", "keras_history": [layer, node, index]}}


def test_the_args_kwargs_node_form():
    entries = [
        layer_entry("InputLayer", input_layer("a", [4]), []),
        layer_entry("InputLayer", input_layer("b", [4]), []),
        layer_entry("Dense", dense("shared", 3, "relu"), [
            {"args": [keras_tensor("a", 0, 0, [None, 4])], "kwargs": {}},
            {"args": [keras_tensor("b", 0, 0, [None, 4])], "kwargs": {}}]),
        layer_entry("Concatenate", '{"name": "concatenate", "trainable": true, "dtype": '
                    '"float32", "axis": -1}', [{"args": [[
                        keras_tensor("shared", 0, 0, [None, 3]),
                        keras_tensor("shared", 1, 0, [None, 3])]], "kwargs": {}}]),
        layer_entry("Dense", dense("out1", 2, "linear"), [
            {"args": [keras_tensor("concatenate", 0, 0, [None, 6])], "kwargs": {}}]),
        layer_entry("Dense", dense("out2", 1, "sigmoid"), [
            {"args": [keras_tensor("shared", 1, 0, [None, 3])], "kwargs": {}}])]
    check_towers(keras.models.model_from_json(functional(
        "towers", entries, [["a", 0, 0], ["b", 0, 0]], [["out1", 0, 0], ["out2", 0, 0]])))


ENCODER = sequential("encoder", [
    ("InputLayer", input_layer("encoder_input", [4])),
    ("Dense", dense("enc_1", 3, "relu", '"batch_input_shape": [null, 4], ')),
    ("Dense", dense("enc_2", 2, "tanh"))]).split(', "keras_version"')[0] + "}"


def nested_model(node_index):
    """x -> encoder (a Sequential given its input) -> BatchNormalization(training=False)
    -> head. Keras 2 numbers the encoder's call here 1: its node 0 is its own Input's."""
    entries = [
        layer_entry("InputLayer", input_layer("x", [4]), []),
        layer_entry("Sequential", json.dumps(json.loads(ENCODER)["config"]),
                    [[["x", 0, 0, {}]]]),
        layer_entry("BatchNormalization", bn("bn", "[1]"),
                    [[["encoder", node_index, 0, {"training": False}]]]),
        layer_entry("Dense", dense("head", 1, "linear"), [[["bn", 0, 0, {}]]])]
    return functional("outer", entries, [["x", 0, 0]], [["head", 0, 0]])


def test_nested_sequential_inside_a_functional_model_and_call_kwargs():
    model = keras.models.model_from_json(nested_model(1))
    encoder = model.get_layer("encoder")
    assert type(encoder) is keras.Sequential
    assert summary(encoder) == [("enc_1", "Dense", (None, 3), 15),
                                ("enc_2", "Dense", (None, 2), 8)]
    assert summary(model) == [("x", "InputLayer", [(None, 4)], 0),
                              ("encoder", "Sequential", (None, 2), 23),
                              ("bn", "BatchNormalization", (None, 2), 8),
                              ("head", "Dense", (None, 1), 3)]
    w1, b1 = random_weights(encoder.layers[0], 1)
    w2, b2 = random_weights(encoder.layers[1], 2)
    gamma, beta, mean, var = random_weights(model.get_layer("bn"), 3)
    var = np.abs(var) + 0.5
    model.get_layer("bn").set_weights([gamma, beta, mean, var])
    wh, bh = random_weights(model.get_layer("head"), 4)
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    h = np.tanh(np.maximum(x @ w1 + b1, 0) @ w2 + b2)
    expected = ((h - mean) / np.sqrt(var + 0.001) * gamma + beta) @ wh + bh
    # training=True for the model: the node's saved training=False keeps BN in inference
    np.testing.assert_allclose(np.asarray(model(x, training=True)), expected,
                               rtol=1e-4, atol=1e-5)


def test_a_node_index_that_no_call_makes_is_refused():
    with pytest.raises(ValueError, match=r"'bn'.*\['encoder', 0, 0\]"):
        keras.models.model_from_json(nested_model(0))


def op_layer(name, function):
    return fill('{"name": "@", "trainable": true, "dtype": "float32", "function": "@"}',
                name, function)


def test_tf_ops_on_symbolic_tensors_are_replayed_with_xlaflows_ops():
    # a * 2 + b, tf.concat([that, b], -1)[:, 1:7:2], tf.reduce_mean(..., 1, keepdims=True):
    # TFOpLambda nodes keep the first argument's structure (a tensor is not in a list)
    entries = [
        layer_entry("InputLayer", input_layer("a", [4]), []),
        layer_entry("InputLayer", input_layer("b", [4]), []),
        layer_entry("TFOpLambda", op_layer("tf.math.multiply", "math.multiply"),
                    [["a", 0, 0, {"y": 2.0, "name": None}]]),
        layer_entry("TFOpLambda", op_layer("tf.__operators__.add", "__operators__.add"),
                    [["tf.math.multiply", 0, 0, {"y": ["b", 0, 0], "name": None}]]),
        layer_entry("TFOpLambda", op_layer("tf.concat", "concat"),
                    [[["tf.__operators__.add", 0, 0, {"axis": -1, "name": None}],
                      ["b", 0, 0, {"axis": -1, "name": None}]]]),
        layer_entry("SlicingOpLambda",
                    op_layer("tf.__operators__.getitem", "__operators__.getitem"),
                    [["tf.concat", 0, 0, {"slice_spec": [
                        {"start": None, "stop": None, "step": None},
                        {"start": 1, "stop": 7, "step": 2}]}]]),
        layer_entry("TFOpLambda", op_layer("tf.math.reduce_mean", "math.reduce_mean"),
                    [["tf.__operators__.getitem", 0, 0,
                      {"axis": 1, "keepdims": True, "name": None}]])]
    model = keras.models.model_from_json(functional(
        "ops", entries, [["a", 0, 0], ["b", 0, 0]], [["tf.math.reduce_mean", 0, 0]]))
    assert model.output_shape == (None, 1) and model.count_params() == 0
    a, b = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    expected = np.concatenate([a * 2 + b, b], -1)[:, 1:7:2].mean(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(model([a, b])), expected, rtol=1e-5)
    # 2.0 - a: the op's first argument is the constant
    subtract = layer_entry("TFOpLambda", op_layer("tf.math.subtract", "math.subtract"),
                           [["_CONSTANT_VALUE", -1, 2.0, {"y": ["a", 0, 0], "name": None}]])
    model = keras.models.model_from_json(functional(
        "rsub", entries[:1] + [subtract], [["a", 0, 0]], [["tf.math.subtract", 0, 0]]))
    np.testing.assert_allclose(np.asarray(model(a)), 2.0 - a, rtol=1e-6)
    entries[2] = layer_entry("TFOpLambda", op_layer("tf.raw_ops.Mul", "raw_ops.Mul"),
                             [["a", 0, 0, {"y": 2.0, "name": None}]])
    with pytest.raises(NotImplementedError, match="TFOpLambda.*'raw_ops.Mul'"):
        keras.models.model_from_json(functional("ops", entries, [["a", 0, 0], ["b", 0, 0]],
                                                [["tf.math.reduce_mean", 0, 0]]))


def test_nested_functional_model_is_called_as_node_1():
    inner = json.loads(functional("inner", [
        layer_entry("InputLayer", input_layer("inner_in", [4]), []),
        layer_entry("Dense", dense("inner_dense", 3, "relu"), [[["inner_in", 0, 0, {}]]])],
        [["inner_in", 0, 0]], [["inner_dense", 0, 0]]))["config"]
    model = keras.models.model_from_json(functional("outer", [
        layer_entry("InputLayer", input_layer("x", [4]), []),
        layer_entry("Functional", json.dumps(inner), [[["x", 0, 0, {}]]]),
        layer_entry("Dense", dense("head", 1, "linear"), [[["inner", 1, 0, {}]]])],
        [["x", 0, 0]], [["head", 0, 0]]))
    assert [(name, params) for name, _, _, params in summary(model)] == [
        ("x", 0), ("inner", 15), ("head", 4)]
    assert model.get_layer("inner").output_shape == (None, 3)
    w1, b1 = random_weights(model.get_layer("inner").get_layer("inner_dense"), 1)
    w2, b2 = random_weights(model.get_layer("head"), 2)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), np.maximum(x @ w1 + b1, 0) @ w2 + b2,
                               rtol=1e-5, atol=1e-5)


def test_a_tensor_in_a_nodes_kwargs_is_the_named_output():
    # gap(x, mask=m): Keras 2 writes the mask as [layer, node, tensor] in the node's kwargs
    gap = ('{"name": "gap", "trainable": true, "dtype": "float32", "data_format": '
           '"channels_last", "keepdims": false}')
    model = keras.models.model_from_json(functional("masked", [
        layer_entry("InputLayer", input_layer("x", [4, 2]), []),
        layer_entry("InputLayer", input_layer("m", [4], "bool"), []),
        layer_entry("GlobalAveragePooling1D", gap, [[["x", 0, 0, {"mask": ["m", 0, 0]}]]])],
        [["x", 0, 0], ["m", 0, 0]], [["gap", 0, 0]]))
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 1]], bool)
    expected = (x * mask[..., None]).sum(1) / mask.sum(1)[:, None]
    np.testing.assert_allclose(np.asarray(model([x, mask])), expected, rtol=1e-5)


def test_dict_inputs_and_outputs_keep_their_keys():
    model = keras.models.model_from_json(functional("keyed", [
        layer_entry("InputLayer", input_layer("x", [4]), []),
        layer_entry("Dense", dense("d", 2, "linear"), [[["x", 0, 0, {}]]])],
        {"features": ["x", 0, 0]}, {"score": ["d", 0, 0]}))
    w, b = random_weights(model.get_layer("d"), 1)
    x = np.ones((1, 4), "float32")
    out = model({"features": x})
    assert list(out) == ["score"]
    np.testing.assert_allclose(np.asarray(out["score"]), x @ w + b, rtol=1e-5)


def test_a_nested_sequential_of_keras_before_2_4_lists_no_input_layer():
    """Keras < 2.4's Sequential config has no InputLayer entry: its first layer's
    batch_input_shape makes one when added, so its call in the outer model is node 1."""
    old = json.loads(ENCODER)["config"]
    old["layers"] = old["layers"][1:]  # enc_1 keeps "batch_input_shape": [null, 4]
    entries = [
        layer_entry("InputLayer", input_layer("x", [4]), []),
        layer_entry("Sequential", json.dumps(old), [[["x", 0, 0, {}]]]),
        layer_entry("Dense", dense("head", 1, "linear"), [[["encoder", 1, 0, {}]]])]
    model = keras.models.model_from_json(
        functional("outer", entries, [["x", 0, 0]], [["head", 0, 0]]))
    encoder = model.get_layer("encoder")
    w1, b1 = random_weights(encoder.layers[0], 1)
    w2, b2 = random_weights(encoder.layers[1], 2)
    wh, bh = random_weights(model.get_layer("head"), 3)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    expected = np.tanh(np.maximum(x @ w1 + b1, 0) @ w2 + b2) @ wh + bh
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-5)


def keras_2_13(value):
    """`value` as Keras 2.13+ writes it: every {"class_name", "config"} with "module" and
    "registered_name": null (a built-in), layers with a "build_config"."""
    if isinstance(value, list):
        return [keras_2_13(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: keras_2_13(v) for k, v in value.items()}
    if "class_name" in value and "config" in value:
        value = {"module": "keras.layers", **value, "registered_name": None}
        if value["class_name"] in ("Dense", "Concatenate"):
            value["build_config"] = {"input_shape": [None, 4]}
    return value


def test_keras_2_13s_format_with_null_registered_names():
    check_towers(keras.models.model_from_json(json.dumps(keras_2_13(json.loads(TOWERS)))))
