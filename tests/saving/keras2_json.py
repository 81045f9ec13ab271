"""Keras 2's model configs as TF 2.12's `model.to_json()` writes them, built by hand for the
tests that load them (test_keras2_*configs*.py): JSON fragments, whole models and NumPy
helpers."""

import json

import numpy as np

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
