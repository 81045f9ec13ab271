"""keras.backend's math on symbolic Keras tensors: each call is an op layer (Keras 2's
TFOpLambda), saved by its public name. Oracle: NumPy on the same concrete inputs."""

import json

import numpy as np

from xlaflow import keras
from xlaflow.layers.op_layer import TFOpLambda

K = keras.backend
X = np.random.default_rng(5).normal(size=(4, 3, 5)).astype(np.float32)
W = np.random.default_rng(6).normal(size=(5, 2)).astype(np.float32)


def _model():
    inputs = keras.Input((3, 5))
    total = K.sum(inputs, axis=1)
    outputs = [K.clip(total, -0.5, 0.75), K.mean(inputs, axis=-1, keepdims=True),
               K.dot(inputs, W), K.concatenate([K.sqrt(total), K.max(inputs, axis=1)])]
    return keras.Model(inputs, outputs)


def _numpy(x):
    total = x.sum(1)
    return [np.clip(total, -0.5, 0.75), x.mean(-1, keepdims=True), x @ W,
            np.concatenate([np.sqrt(np.maximum(total, 0)), x.max(1)], -1)]


def test_backend_ops_on_symbolic_tensors_build_a_model_equal_to_numpy():
    model = _model()
    assert sum(isinstance(layer, TFOpLambda) for layer in model.layers) == 7
    for got, expected in zip(model(X), _numpy(X)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_backend_op_layers_round_trip_through_get_config():
    model = _model()
    config = model.get_config()
    functions = {layer["config"]["function"] for layer in config["layers"]
                 if layer["class_name"] == "TFOpLambda"}
    assert {"keras.backend.sum", "keras.backend.clip", "keras.backend.mean"} <= functions
    rebuilt = keras.Model.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    for got, expected in zip(rebuilt(X), _numpy(X)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_backend_ops_on_arrays_stay_plain_calls():
    # a symbolic tensor exists (the model above), yet arrays never record a layer
    keras.Input((2,))
    np.testing.assert_allclose(K.sum(X, axis=1), X.sum(1), rtol=1e-5)
    assert K.sum.__module__ == "xlaflow.keras.backend" and K.sum.__name__ == "sum"
