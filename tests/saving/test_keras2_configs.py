"""Keras 2's model configs (TF 2.12's `model.to_json()`, written here by hand as it writes
them) rebuilt by `keras.models.model_from_json`: layer names, classes, output shapes and
parameter counts as Keras 2's summary reports them, and the forward pass against NumPy."""

import json

import numpy as np
import pytest

from xlaflow import keras

GLOROT = '{"class_name": "GlorotUniform", "config": {"seed": null}}'
ZEROS = '{"class_name": "Zeros", "config": {}}'
ONES = '{"class_name": "Ones", "config": {}}'
PENALTIES = ('"kernel_regularizer": null, "bias_regularizer": null, '
             '"activity_regularizer": null, "kernel_constraint": null, '
             '"bias_constraint": null')


def fill(template, *values):
    """`template` with each "@" replaced by the next of `values` (JSON has braces, so no
    str.format)."""
    parts = template.split("@")
    assert len(parts) == len(values) + 1, (template, values)
    return "".join(part + str(value) for part, value in zip(parts, [*values, ""]))


def dense(name, units, activation, extra=""):
    return fill('{"name": "@", "trainable": true, "dtype": "float32", @"units": @, '
                '"activation": "@", "use_bias": true, "kernel_initializer": @, '
                '"bias_initializer": @, @}',
                name, extra, units, activation, GLOROT, ZEROS, PENALTIES)


def input_layer(name, shape, dtype="float32"):
    return fill('{"batch_input_shape": @, "dtype": "@", "sparse": false, "ragged": false, '
                '"name": "@"}', json.dumps([None, *shape]), dtype, name)


def bn(name, axis):
    return fill('{"name": "@", "trainable": true, "dtype": "float32", "axis": @, '
                '"momentum": 0.99, "epsilon": 0.001, "center": true, "scale": true, '
                '"beta_initializer": @, "gamma_initializer": @, '
                '"moving_mean_initializer": @, "moving_variance_initializer": @, '
                '"beta_regularizer": null, "gamma_regularizer": null, '
                '"beta_constraint": null, "gamma_constraint": null}',
                name, axis, ZEROS, ONES, ZEROS, ONES)


def lstm(name, units, extra=""):
    return fill('{"name": "@", "trainable": true, "dtype": "float32", @"return_sequences": '
                'false, "return_state": false, "go_backwards": false, "stateful": false, '
                '"unroll": false, "time_major": false, "units": @, "activation": "tanh", '
                '"recurrent_activation": "sigmoid", "use_bias": true, '
                '"kernel_initializer": @, "recurrent_initializer": {"class_name": '
                '"Orthogonal", "config": {"gain": 1.0, "seed": null}}, '
                '"bias_initializer": @, "unit_forget_bias": true, '
                '"kernel_regularizer": null, "recurrent_regularizer": null, '
                '"bias_regularizer": null, "activity_regularizer": null, '
                '"kernel_constraint": null, "recurrent_constraint": null, '
                '"bias_constraint": null, "dropout": 0.0, "recurrent_dropout": 0.0, '
                '"implementation": 2}', name, extra, units, GLOROT, ZEROS)


def sequential(name, layers):
    entries = ", ".join(fill('{"class_name": "@", "config": @}', *pair) for pair in layers)
    return fill('{"class_name": "Sequential", "config": {"name": "@", "layers": [@]}, '
                '"keras_version": "2.12.0", "backend": "tensorflow"}', name, entries)


def summary(model):
    """(name, class, output shape, parameters) per layer, as Keras 2's summary lists them."""
    return [(layer.name, type(layer).__name__, layer.output_shape, layer.count_params())
            for layer in model.layers]


def random_weights(layer, seed):
    rng = np.random.default_rng(seed)
    values = [rng.normal(scale=0.5, size=w.shape).astype("float32")
              for w in layer.get_weights()]
    layer.set_weights(values)
    return values


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


MLP = sequential("mlp", [
    ("InputLayer", input_layer("dense_input", [3])),
    ("Dense", dense("dense", 4, "relu", '"batch_input_shape": [null, 3], ')),
    ("Dropout", '{"name": "dropout", "trainable": true, "dtype": "float32", "rate": 0.5, '
                '"noise_shape": null, "seed": null}'),
    ("Dense", dense("dense_1", 2, "softmax"))])


def test_sequential_mlp():
    model = keras.models.model_from_json(MLP)
    assert type(model) is keras.Sequential and model.name == "mlp"
    assert summary(model) == [("dense", "Dense", (None, 4), 16),
                              ("dropout", "Dropout", (None, 4), 0),
                              ("dense_1", "Dense", (None, 2), 10)]
    assert model.count_params() == 26
    assert [tuple(w.shape) for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]
    w1, b1 = random_weights(model.layers[0], 1)
    w2, b2 = random_weights(model.layers[2], 2)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    expected = softmax(np.maximum(x @ w1 + b1, 0) @ w2 + b2)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-6)


CNN = sequential("cnn", [
    ("InputLayer", input_layer("conv2d_input", [8, 8, 1])),
    ("Conv2D", fill('{"name": "conv2d", "trainable": true, "dtype": "float32", '
               '"batch_input_shape": [null, 8, 8, 1], "filters": 4, "kernel_size": [3, 3], '
               '"strides": [1, 1], "padding": "valid", "data_format": "channels_last", '
               '"dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": true, '
               '"kernel_initializer": @, "bias_initializer": @, @}',
               GLOROT, ZEROS, PENALTIES)),
    ("BatchNormalization", bn("batch_normalization", "[3]")),
    ("MaxPooling2D", '{"name": "max_pooling2d", "trainable": true, "dtype": "float32", '
                     '"pool_size": [2, 2], "padding": "valid", "strides": [2, 2], '
                     '"data_format": "channels_last"}'),
    ("Flatten", '{"name": "flatten", "trainable": true, "dtype": "float32", '
                '"data_format": "channels_last"}'),
    ("Dense", dense("dense", 3, "softmax"))])


def test_sequential_cnn_with_batch_normalization():
    model = keras.models.model_from_json(CNN)
    assert summary(model) == [
        ("conv2d", "Conv2D", (None, 6, 6, 4), 40),
        ("batch_normalization", "BatchNormalization", (None, 6, 6, 4), 16),
        ("max_pooling2d", "MaxPooling2D", (None, 3, 3, 4), 0),
        ("flatten", "Flatten", (None, 36), 0),
        ("dense", "Dense", (None, 3), 111)]
    kernel, bias = random_weights(model.layers[0], 1)
    gamma, beta, mean, var = random_weights(model.layers[1], 2)
    var = np.abs(var) + 0.5
    model.layers[1].set_weights([gamma, beta, mean, var])
    w, b = random_weights(model.layers[4], 3)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype("float32")
    conv = np.zeros((2, 6, 6, 4), "float32")
    for i in range(6):
        for j in range(6):
            conv[:, i, j] = np.einsum("bhwc,hwcf->bf", x[:, i:i + 3, j:j + 3], kernel)
    h = np.maximum(conv + bias, 0)
    h = (h - mean) / np.sqrt(var + 0.001) * gamma + beta  # inference: moving statistics
    h = h.reshape(2, 3, 2, 3, 2, 4).max(axis=(2, 4))
    expected = softmax(h.reshape(2, 36) @ w + b)
    np.testing.assert_allclose(np.asarray(model(x, training=False)), expected,
                               rtol=1e-4, atol=1e-5)


def lstm_numpy(x, kernel, recurrent, bias, reverse=False):
    """Keras' LSTM (gates i, f, c, o) over (batch, time, features): the last output."""
    units = recurrent.shape[0]
    h = c = np.zeros((x.shape[0], units), "float32")
    steps = range(x.shape[1])
    for t in (reversed(steps) if reverse else steps):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
    return h


TEXT = sequential("text", [
    ("InputLayer", input_layer("embedding_input", [5])),
    ("Embedding", '{"name": "embedding", "trainable": true, "dtype": "float32", '
                  '"batch_input_shape": [null, 5], "input_dim": 20, "output_dim": 4, '
                  '"embeddings_initializer": {"class_name": "RandomUniform", "config": '
                  '{"minval": -0.05, "maxval": 0.05, "seed": null}}, '
                  '"embeddings_regularizer": null, "activity_regularizer": null, '
                  '"embeddings_constraint": null, "mask_zero": false, "input_length": 5}'),
    ("LSTM", lstm("lstm", 3)),
    ("Dense", dense("dense", 1, "sigmoid"))])


def test_sequential_lstm_text_model():
    model = keras.models.model_from_json(TEXT)
    assert summary(model) == [("embedding", "Embedding", (None, 5, 4), 80),
                              ("lstm", "LSTM", (None, 3), 96),
                              ("dense", "Dense", (None, 1), 4)]
    (table,) = random_weights(model.layers[0], 1)
    kernel, recurrent, bias = random_weights(model.layers[1], 2)
    assert (kernel.shape, recurrent.shape, bias.shape) == ((4, 12), (3, 12), (12,))
    w, b = random_weights(model.layers[2], 3)
    ids = np.random.default_rng(0).integers(0, 20, size=(3, 5))
    expected = sigmoid(lstm_numpy(table[ids], kernel, recurrent, bias) @ w + b)
    np.testing.assert_allclose(np.asarray(model(ids)), expected, rtol=1e-4, atol=1e-5)


def test_bidirectional_wraps_a_keras2_lstm_config():
    text = sequential("bi", [
        ("InputLayer", input_layer("embedding_input", [5])),
        ("Embedding", TEXT.split('"Embedding", "config": ')[1].split('}, {"class_name"')[0]),
        ("Bidirectional", fill('{"name": "bidirectional", "trainable": true, "dtype": '
                               '"float32", "layer": {"class_name": "LSTM", "config": @}, '
                               '"merge_mode": "concat"}', lstm("lstm", 3)))])
    model = keras.models.model_from_json(text)
    assert summary(model)[1] == ("bidirectional", "Bidirectional", (None, 6), 192)
    (table,) = random_weights(model.layers[0], 1)
    fk, fr, fb, bk, br, bb = random_weights(model.layers[1], 2)
    ids = np.random.default_rng(0).integers(0, 20, size=(3, 5))
    expected = np.concatenate([lstm_numpy(table[ids], fk, fr, fb),
                               lstm_numpy(table[ids], bk, br, bb, reverse=True)], axis=-1)
    np.testing.assert_allclose(np.asarray(model(ids)), expected, rtol=1e-4, atol=1e-5)


def layer_entry(class_name, config, inbound):
    name = json.loads(config)["name"]
    return fill('{"class_name": "@", "config": @, "name": "@", "inbound_nodes": @}',
                class_name, config, name, json.dumps(inbound))


def functional(name, entries, inputs, outputs):
    return fill('{"class_name": "Functional", "config": {"name": "@", "layers": [@], '
                '"input_layers": @, "output_layers": @}, "keras_version": "2.12.0", '
                '"backend": "tensorflow"}', name, ", ".join(entries), json.dumps(inputs),
                json.dumps(outputs))


TOWER_ENTRIES = [
    layer_entry("InputLayer", input_layer("a", [4]), []),
    layer_entry("InputLayer", input_layer("b", [4]), []),
    layer_entry("Dense", dense("shared", 3, "relu"), [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]),
    layer_entry("Concatenate", '{"name": "concatenate", "trainable": true, "dtype": '
                '"float32", "axis": -1}', [[["shared", 0, 0, {}], ["shared", 1, 0, {}]]]),
    layer_entry("Dense", dense("out1", 2, "linear"), [[["concatenate", 0, 0, {}]]]),
    layer_entry("Dense", dense("out2", 1, "sigmoid"), [[["shared", 1, 0, {}]]])]
TOWERS = functional("towers", TOWER_ENTRIES, [["a", 0, 0], ["b", 0, 0]],
                    [["out1", 0, 0], ["out2", 0, 0]])


def check_towers(model):
    assert type(model) is keras.Model and model.name == "towers"
    assert [(lay.name, type(lay).__name__, lay.count_params()) for lay in model.layers] == [
        ("a", "InputLayer", 0), ("b", "InputLayer", 0), ("shared", "Dense", 15),
        ("concatenate", "Concatenate", 0), ("out1", "Dense", 14), ("out2", "Dense", 4)]
    assert model.get_layer("concatenate").output_shape == (None, 6)
    assert model.output_shape == [(None, 2), (None, 1)]
    ws, bs = random_weights(model.get_layer("shared"), 1)
    w1, b1 = random_weights(model.get_layer("out1"), 2)
    w2, b2 = random_weights(model.get_layer("out2"), 3)
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(5, 4)).astype("float32") for _ in range(2))
    ha, hb = np.maximum(a @ ws + bs, 0), np.maximum(b @ ws + bs, 0)
    out1, out2 = model([a, b])
    np.testing.assert_allclose(np.asarray(out1), np.concatenate([ha, hb], -1) @ w1 + b1,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out2), sigmoid(hb @ w2 + b2), rtol=1e-5, atol=1e-6)


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


# -- errors --------------------------------------------------------------------------------
def test_unknown_class_names_it_and_custom_objects():
    text = sequential("m", [("InputLayer", input_layer("i", [3])),
                            ("MyBlock", '{"name": "my_block", "units": 2}')])
    with pytest.raises(ValueError, match=r"'MyBlock'.*custom_objects=\{'MyBlock': MyBlock\}"):
        keras.models.model_from_json(text)


def test_custom_objects_resolve_a_users_layer():
    class MyBlock(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1], self.units))

        def call(self, x):
            return x @ self.w

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    text = sequential("m", [("InputLayer", input_layer("i", [3])),
                            ("MyBlock", '{"name": "my_block", "trainable": true, '
                                        '"dtype": "float32", "units": 2}')])
    model = keras.models.model_from_json(text, custom_objects={"MyBlock": MyBlock})
    assert summary(model) == [("my_block", "MyBlock", (None, 2), 6)]


def test_keras2_only_key_at_a_non_default_value_is_refused_by_name():
    text = MLP.replace('"sparse": false', '"sparse": true')
    with pytest.raises(NotImplementedError, match=r"InputLayer.*'dense_input'.*sparse=True"):
        keras.models.model_from_json(text)
    text = CNN.replace('"float32", "data_format": "channels_last"}',
                       '"float32", "data_format": "channels_first"}')
    with pytest.raises(NotImplementedError, match=r"Flatten.*data_format='channels_first'"):
        keras.models.model_from_json(text)


def test_a_key_no_layer_takes_is_named():
    text = MLP.replace('"units": 2,', '"units": 2, "kernel_layout": "x",')
    with pytest.raises(TypeError, match=r"Dense layer 'dense_1'.*kernel_layout"):
        keras.models.model_from_json(text)


def test_lambda_bytecode_is_refused():
    fn = '["4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkAVMAKQJO", null, null]'
    text = sequential("m", [
        ("InputLayer", input_layer("i", [3])),
        ("Lambda", fill('{"name": "lambda", "trainable": true, "dtype": "float32", '
                        '"function": @, "function_type": "lambda", "module": "__main__", '
                        '"output_shape": null, "output_shape_type": "raw", '
                        '"output_shape_module": null, "arguments": {}}', fn))])
    with pytest.raises(NotImplementedError, match="Lambda layer 'lambda'.*bytecode"):
        keras.models.model_from_json(text)


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


def test_a_reference_to_a_missing_layer_is_named():
    entries = TOWER_ENTRIES[:5] + [layer_entry("Dense", dense("out2", 1, "sigmoid"),
                                               [[["nope", 0, 0, {}]]])]
    with pytest.raises(ValueError, match="layer 'nope'"):
        keras.models.model_from_json(functional("towers", entries, [["a", 0, 0], ["b", 0, 0]],
                                                [["out1", 0, 0], ["out2", 0, 0]]))


def test_xlaflows_own_format_still_round_trips():
    model = keras.models.model_from_json(MLP)
    again = keras.models.model_from_json(model.to_json())
    assert summary(again) == summary(model)


def test_keras_layers_deserialize_maps_keras2_keys():
    layer = keras.layers.deserialize({"class_name": "InputLayer", "config": json.loads(
        input_layer("ids", [5], "int32"))})
    assert type(layer) is keras.layers.InputLayer and layer.name == "ids"


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


def test_sequential_built_from_build_input_shape_and_a_mixed_precision_policy():
    config = json.loads(MLP)
    layers = config["config"]["layers"] = config["config"]["layers"][1:]  # no InputLayer
    del layers[0]["config"]["batch_input_shape"]
    layers[0]["config"]["dtype"] = {"class_name": "Policy", "config": {"name": "mixed_float16"}}
    config["config"]["build_input_shape"] = [None, 3]
    model = keras.models.model_from_json(json.dumps(config))
    assert model.built and model.count_params() == 26
    assert model.layers[0]._dtype_policy.name == "mixed_float16"


def test_multi_head_attention_with_keras2s_build_shapes_and_a_value_kwarg():
    mha = fill('{"name": "mha", "trainable": true, "dtype": "float32", "num_heads": 2, '
               '"key_dim": 4, "value_dim": 4, "dropout": 0.0, "use_bias": true, '
               '"output_shape": null, "attention_axes": [1], "kernel_initializer": @, '
               '"bias_initializer": @, @, "query_shape": [null, 5, 8], '
               '"key_shape": [null, 5, 8], "value_shape": [null, 5, 8]}',
               GLOROT, ZEROS, PENALTIES)
    model = keras.models.model_from_json(functional("att", [
        layer_entry("InputLayer", input_layer("x", [5, 8]), []),
        layer_entry("MultiHeadAttention", mha, [[["x", 0, 0, {"value": ["x", 0, 0]}]]])],
        [["x", 0, 0]], [["mha", 0, 0]]))
    assert summary(model)[1] == ("mha", "MultiHeadAttention", (None, 5, 8), 288)
    wq, bq, wk, bk, wv, bv, wo, bo = random_weights(model.get_layer("mha"), 1)
    assert wq.shape == (8, 2, 4) and wo.shape == (2, 4, 8)  # Keras 2's EinsumDense layout
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    q, k, v = (np.einsum("btd,dhk->bthk", x, w) + b for w, b in
               ((wq, bq), (wk, bk), (wv, bv)))
    attention = softmax(np.einsum("bqhk,bthk->bhqt", q, k) / 2.0)
    expected = np.einsum("bqhk,hkd->bqd", np.einsum("bhqt,bthk->bqhk", attention, v), wo) + bo
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-4, atol=1e-5)
    other_axes = mha.replace('"attention_axes": [1]', '"attention_axes": [2]')
    with pytest.raises(NotImplementedError, match=r"'mha'.*attention_axes=\[2\]"):
        keras.layers.deserialize({"class_name": "MultiHeadAttention",
                                  "config": json.loads(other_axes)})


def test_lambda_saved_by_function_name_loads_through_custom_objects():
    def double(x):
        return x * 2

    text = sequential("m", [
        ("InputLayer", input_layer("i", [3])),
        ("Lambda", '{"name": "lambda", "trainable": true, "dtype": "float32", "function": '
                   '"double", "function_type": "function", "module": "__main__", '
                   '"output_shape": null, "output_shape_type": "raw", '
                   '"output_shape_module": null, "arguments": {}}')])
    model = keras.models.model_from_json(text, custom_objects={"double": double})
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(np.asarray(model(x)), 2 * x)


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
