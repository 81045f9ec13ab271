"""Keras 2 casts what a functional model is fed to each Input's dtype
(Functional._conform_to_reference_input: `tf.cast(tensor, ref_input.dtype)`): floats fed
to an Input(dtype="int32") truncate toward zero, on every path (call, predict, evaluate,
fit)."""

import numpy as np

import xlaflow as xf
from xlaflow import keras

X = np.array([[1.7], [-2.5]], np.float32)
TRUNCATED = np.trunc(X)  # tf.cast's float -> int rule, as C's


def _model():
    ids = keras.Input((1,), dtype="int32")
    as_float = keras.layers.Lambda(lambda t: xf.cast(t, "float32"))(ids)
    out = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(as_float)
    model = keras.Model(ids, out)
    model.compile(keras.optimizers.SGD(0.0), "mse")
    return model


def test_direct_call_and_predict_cast_floats_to_an_int_input():
    ids = keras.Input((3,), dtype="int32")
    model = keras.Model(ids, keras.layers.Lambda(lambda t: t * 1)(ids))
    x = np.array([[1.7, 2.2, -1.5]], np.float32)
    for out in (model(x), model(xf.constant(x)), model.predict(x, verbose=0)):
        assert out.dtype == np.int32
        np.testing.assert_array_equal(np.asarray(out), np.trunc(x).astype(np.int32))


def test_evaluate_and_fit_see_the_cast_values():
    # y is the truncated x: the loss is 0 only if the model saw the cast inputs (0.37 if not)
    model = _model()
    assert model.evaluate(X, TRUNCATED, verbose=0) == 0.0
    assert model.fit(X, TRUNCATED, verbose=0).history["loss"] == [0.0]


def test_each_input_takes_its_own_dtype():
    ids = keras.Input((2,), dtype="int32", name="ids")
    values = keras.Input((2,), name="values")  # float32, Keras' default
    model = keras.Model({"ids": ids, "values": values},
                        [keras.layers.Lambda(lambda t: t + 0)(ids),
                         keras.layers.Lambda(lambda t: t + 0)(values)])
    got_ids, got_values = model({"ids": np.array([[0.9, 3.1]]), "values": np.array([[1, 2]])})
    assert got_ids.dtype == np.int32 and got_values.dtype == np.float32
    np.testing.assert_array_equal(got_ids, [[0, 3]])
    np.testing.assert_array_equal(got_values, [[1.0, 2.0]])
