"""The functional API: Input, layer calls on symbolic tensors, Model(inputs, outputs)."""

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(3)
X = RNG.normal(size=(64, 5)).astype(np.float32)
Y = (X.sum(-1) > 0).astype(np.int32)


def test_functional_equals_sequential_with_same_weights():
    inputs = xf.keras.Input((5,))
    hidden = layers.Dense(8, activation="relu")(inputs)
    outputs = layers.Dense(2, activation="softmax")(hidden)
    functional = models.Model(inputs, outputs)
    assert hidden.shape == (None, 8) and outputs.shape == (None, 2)
    sequential = models.Sequential([xf.keras.Input((5,)), layers.Dense(8, activation="relu"),
                                    layers.Dense(2, activation="softmax")])
    sequential.set_weights(functional.get_weights())
    np.testing.assert_allclose(functional.predict(X, verbose=0),
                               sequential.predict(X, verbose=0), rtol=1e-6)
    for model in (functional, sequential):
        model.compile(optimizer=xf.keras.optimizers.SGD(0.1),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(functional.get_weights(), sequential.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_multi_input_multi_output_training():
    left, right = xf.keras.Input((5,), name="left"), xf.keras.Input((3,), name="right")
    merged = layers.Concatenate()([layers.Dense(4)(left), layers.Dense(4)(right)])
    out_a = layers.Dense(1, name="regression")(merged)
    out_b = layers.Dense(2, activation="softmax", name="classes")(layers.Add()([merged, merged]))
    model = models.Model([left, right], [out_a, out_b])
    assert model.output_names == ["regression", "classes"]
    x_right = RNG.normal(size=(64, 3)).astype(np.float32)
    y_reg = X[:, :1] + x_right[:, :1]
    model.compile(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"],
                  loss_weights=[1.0, 0.5])
    history = model.fit([X, x_right], [y_reg, Y], epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    reg, classes = model.predict([X, x_right], verbose=0)
    assert reg.shape == (64, 1) and classes.shape == (64, 2)
    # as Keras: the total, then each output's own (unweighted) loss
    assert model.metrics_names == ["loss", "regression_loss", "classes_loss"]
    assert sorted(history.history) == ["classes_loss", "loss", "regression_loss"]
    loss, reg_loss, class_loss = model.evaluate([X, x_right], [y_reg, Y], verbose=0)
    probs = np.asarray(classes)
    mse = np.mean((np.asarray(reg) - y_reg) ** 2)
    crossentropy = np.mean(-np.log(np.clip(probs[np.arange(64), Y], 1e-7, 1)))
    np.testing.assert_allclose([loss, reg_loss, class_loss],
                               [mse + 0.5 * crossentropy, mse, crossentropy], rtol=1e-4)


def test_dict_inputs_and_outputs():
    a, b = xf.keras.Input((5,)), xf.keras.Input((5,))
    model = models.Model({"a": a, "b": b}, {"sum": layers.Add()([a, b])})
    out = model({"a": X, "b": 2 * X})
    np.testing.assert_allclose(out["sum"], 3 * X, rtol=1e-6)


def test_graph_errors_are_raised_when_the_graph_is_written():
    inputs = xf.keras.Input((4, 4, 1))
    with pytest.raises(ValueError, match="expects inputs of rank 4"):
        layers.Conv2D(2, 3)(xf.keras.Input((4,)))
    stray = xf.keras.Input((3,))
    mixed = layers.Add()([layers.Dense(3)(stray), layers.Dense(3)(layers.Flatten()(inputs))])
    with pytest.raises(ValueError, match="is an Input that is not among the model's inputs"):
        models.Model(inputs, mixed)
    with pytest.raises(ValueError, match="needs both inputs= and outputs="):
        models.Model(inputs=inputs)
    model = models.Model(inputs, layers.Flatten()(inputs))
    with pytest.raises(ValueError, match=r"has shape \(2, 3, 3, 1\), but the model expects "
                                         r"\(None, 4, 4, 1\)"):
        model.predict(np.ones((2, 3, 3, 1), np.float32), verbose=0)


def test_functional_summary(capsys):
    inputs = xf.keras.Input((6,))
    model = models.Model(inputs, layers.Dense(3, name="head")(layers.Dense(4)(inputs)))
    model.summary()
    out = capsys.readouterr().out
    assert "head (Dense)" in out and "(None, 3)" in out and "Total params: 43" in out
    # Keras 2 lists the InputLayer first; it has no weights
    assert len(model.layers) == 3 and len(jax.tree_util.tree_leaves(model.weights)) == 4
    assert isinstance(model.layers[0], layers.InputLayer)


def test_a_dict_keyed_by_input_names_feeds_a_list_input_model():
    a, b = xf.keras.Input((3,), name="a"), xf.keras.Input((2,), name="b")
    model = models.Model([a, b], layers.Dense(1)(layers.Concatenate()([a, b])))
    xa, xb = X[:, :3], X[:, 3:]
    kernel, bias = model.get_weights()
    expected = np.concatenate([xa, xb], -1) @ kernel + bias
    # atol: an output near zero (the weights depend on the tests before) differs from
    # NumPy's float32 sum by rounding alone
    np.testing.assert_allclose(model({"b": xb, "a": xa}), expected, rtol=1e-5, atol=1e-6)
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), loss="mse")
    np.testing.assert_allclose(model.predict({"b": xb, "a": xa}, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    labels = np.zeros((len(X), 1), np.float32)
    data = xf.data.Dataset.from_tensor_slices(({"a": xa, "b": xb}, labels)).batch(16)
    np.testing.assert_allclose(model.evaluate(data, verbose=0),
                               np.mean(expected ** 2), rtol=1e-5)
    with pytest.raises(ValueError, match=r"named \['a', 'b'\].*no \['b'\]"):
        model({"a": xa})
    with pytest.warns(UserWarning, match=r"keys \['c'\] that name none"):
        model({"a": xa, "b": xb, "c": xb})


def test_a_dict_in_another_key_order_than_the_inputs_is_checked_by_name():
    # inputs listed (title, body): sorted keys (body, title) would swap two shapes
    title, body = xf.keras.Input((3,), name="title"), xf.keras.Input((2,), name="body")
    model = models.Model([title, body], layers.Dense(1)(layers.Concatenate()([title, body])))
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), loss="mse")
    xt, xb = X[:, :3], X[:, 3:]
    kernel, bias = model.get_weights()
    expected = np.concatenate([xt, xb], -1) @ kernel + bias
    np.testing.assert_allclose(model.predict({"title": xt, "body": xb}, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    labels = np.zeros((len(X), 1), np.float32)
    history = model.fit({"title": xt, "body": xb}, labels, epochs=1, batch_size=len(X),
                        verbose=0)
    np.testing.assert_allclose(history.history["loss"], [np.mean(expected ** 2)], rtol=1e-5)
