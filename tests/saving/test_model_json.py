"""model.to_json / keras.models.model_from_json (architecture only, as Keras), and the
preprocessing layers' old keras.layers.experimental.preprocessing path."""

import json

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_json_round_trip_rebuilds_the_architecture_with_fresh_weights(kind):
    if kind == "sequential":
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                                  keras.layers.Dense(2)])
    else:
        inputs = keras.Input((4,))
        outputs = keras.layers.Dense(2)(keras.layers.Dense(3, activation="relu")(inputs))
        model = keras.Model(inputs, outputs)
    text = model.to_json(indent=2)
    assert "\n" in text and isinstance(json.loads(text), dict)
    rebuilt = keras.models.model_from_json(text)
    assert type(rebuilt) is type(model)
    assert [w.shape for w in rebuilt.get_weights()] == [w.shape for w in model.get_weights()]
    assert not np.allclose(rebuilt.get_weights()[0], model.get_weights()[0])  # not copied
    rebuilt.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    w1, b1, w2, b2 = model.get_weights()
    expected = np.maximum(x @ w1 + b1, 0) @ w2 + b2  # the architecture, in NumPy
    np.testing.assert_allclose(np.asarray(rebuilt(x)), expected, rtol=1e-5, atol=1e-6)


def test_model_from_json_refuses_text_that_is_not_json():
    with pytest.raises(ValueError, match="json_string"):
        keras.models.model_from_json("<model/>")


def test_old_preprocessing_path_names_the_same_layers():
    from xlaflow.keras.layers.experimental import preprocessing
    assert preprocessing.Rescaling is keras.layers.Rescaling
    assert tf.keras.layers.experimental.preprocessing.Normalization is \
        keras.layers.Normalization
    assert preprocessing.StringLookup is keras.layers.StringLookup


def test_get_layer_by_name_and_index():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(inputs))
    assert model.get_layer("head") is model.layers[-1] is model.get_layer(index=-1)
    with pytest.raises(ValueError, match="No such layer: 'tail'.*'head'"):
        model.get_layer("tail")
    with pytest.raises(ValueError, match="index 5"):
        model.get_layer(index=5)
