"""A functional model with xlaflow ops between its layers (TFOpLambda nodes) trains, and
round-trips through get_config, to_json and save/load_model with equal predictions.

Oracles: the model's own predictions before the round trip, NumPy on the read-back weights,
and the loss before training.
"""

import json

import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import HERE
from xlaflow.keras import layers, models
from xlaflow.layers.op_layer import TFOpLambda

RNG = np.random.default_rng(8)
X = RNG.normal(size=(64, 6)).astype(np.float32)
Y = (X @ RNG.normal(size=(6, 1)) + np.abs(X[:, :1])).astype(np.float32)
W = RNG.normal(size=(6, 3)).astype(np.float32)


def _model():
    inputs = xf.keras.Input((6,))
    hidden = xf.nn.relu(layers.Dense(8, name="first")(inputs))
    hidden = xf.concat([hidden, xf.abs(inputs), xf.linalg.matmul(inputs, W)], axis=-1)
    out = layers.Dense(1, name="last")(hidden) * 0.5
    return models.Model(inputs, out + xf.reduce_mean(inputs[:, :2], axis=-1, keepdims=True))


def test_training_flows_through_the_op_layers():
    model = _model()
    first = model.get_layer("first").get_weights()[0]
    model.compile(optimizer=xf.keras.optimizers.Adam(0.02), loss="mse")
    before = model.evaluate(X, Y, verbose=0)
    model.fit(X, Y, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(X, Y, verbose=0) < 0.5 * before
    # the Dense before relu/concat learned: its gradient came through the op layers
    assert not np.allclose(model.get_layer("first").get_weights()[0], first)
    kernel, bias = model.get_layer("first").get_weights()
    last_kernel, last_bias = model.get_layer("last").get_weights()
    hidden = np.concatenate([np.maximum(X @ kernel + bias, 0), np.abs(X), X @ W], -1)
    expected = (hidden @ last_kernel + last_bias) * 0.5 + X[:, :2].mean(-1, keepdims=True)
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-4, atol=1e-4)


def test_get_config_and_to_json_round_trip():
    model = _model()
    config = model.get_config()
    assert any(layer["class_name"] == "TFOpLambda" and layer["config"]["function"] ==
               "linalg.matmul" for layer in config["layers"])
    rebuilt = models.Model.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    again = models.model_from_json(model.to_json())
    assert again.get_config() == config
    for clone in (rebuilt, again):
        clone.set_weights(model.get_weights())
        np.testing.assert_array_equal(clone.predict(X, verbose=0), model.predict(X, verbose=0))


def test_save_and_load_give_equal_predictions_and_the_loaded_model_trains(tmp_path):
    model = _model()
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "model.keras", platforms=HERE)
    loaded = models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert sum(isinstance(layer, TFOpLambda) for layer in loaded.layers) == 5
    before = loaded.evaluate(X, Y, verbose=0)
    loaded.fit(X, Y, epochs=5, batch_size=16, verbose=0)
    assert loaded.evaluate(X, Y, verbose=0) < before


def test_clone_model_rebuilds_the_op_layers():
    model = _model()
    clone = models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(X, verbose=0), model.predict(X, verbose=0))
    assert {id(layer) for layer in clone.layers}.isdisjoint(id(layer) for layer in model.layers)


@pytest.mark.parametrize("make, expected", [
    (lambda x: xf.cast(x, xf.int32), lambda x: x.astype(np.int32)),
    (lambda x: xf.cast(x, np.dtype("float16")), lambda x: x.astype(np.float16)),
    (lambda x: xf.gather(x, np.array([2, 0]), axis=1), lambda x: x[:, [2, 0]]),
    (lambda x: xf.pad(x, ((0, 0), (1, 2))), lambda x: np.pad(x, ((0, 0), (1, 2)))),
    (lambda x: xf.linalg.matmul(x, W), lambda x: x @ W),
    (lambda x: xf.split(x, [2, 4], axis=1)[1], lambda x: x[:, 2:]),
], ids=["dtype", "numpy_dtype", "array", "tuples", "matrix", "list_output"])
def test_a_layer_config_keeps_the_ops_arguments(make, expected):
    out = make(xf.keras.Input((6,)))
    layer = out.node.layer
    config = json.loads(json.dumps(layer.get_config()))  # plain JSON
    clone = TFOpLambda.from_config(config)
    assert clone.get_config() == config
    values = [X]
    got = clone(values)
    got = got[1] if isinstance(got, list) else got
    np.testing.assert_allclose(got, expected(X), rtol=1e-5, atol=1e-5)  # matmul: jnp's sums
    assert got.dtype == expected(X).dtype


def test_saving_refuses_an_op_it_cannot_name_or_an_argument_it_cannot_write(tmp_path):
    inputs = xf.keras.Input((6,))
    square = TFOpLambda(lambda t: t * t, name="square")
    model = models.Model(inputs, layers.Dense(1)(square(inputs)))
    np.testing.assert_allclose(model.predict(X, verbose=0)[:, 0],
                               (X * X) @ model.get_weights()[0][:, 0] + model.get_weights()[1],
                               rtol=1e-5, atol=1e-5)  # it runs
    with pytest.raises(ValueError, match=r"square: its op '.*<lambda>' is not a public xlaflow "
                                         r"function.*keras\.layers\.Lambda"):
        model.save(tmp_path / "lambda", platforms=HERE)
    assert not (tmp_path / "lambda").exists()

    rotated = xf.multiply(inputs, np.complex64(1j))  # runs, but complex is not written
    with pytest.raises(ValueError, match=r"tf\.math\.multiply.*1j.*arguments\[1\].*cannot "
                                         r"be saved"):
        models.Model(inputs, rotated).get_config()


def test_an_op_given_to_the_layer_as_itself_saves_by_its_public_name():
    import jax.numpy as jnp
    for op, name in ((xf.nn.relu, "nn.relu"), (jnp.add, "math.add"), (xf.tanh, "math.tanh")):
        assert TFOpLambda(op).get_config()["function"] == name
    np.testing.assert_array_equal(TFOpLambda(xf.nn.relu)(X), np.maximum(X, 0))
    with pytest.raises(TypeError, match=r"tf\.nn\.dropout cannot be a step"):
        TFOpLambda(xf.nn.dropout)
