"""Keras 2 behaviours the Transformer tutorial relies on: a layer called with its first
argument by name, a mask dropped with set_keras_mask, and a Mean given weights of a higher
rank than its values (a (batch, time) mask on the scalar a custom metric returns)."""

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


class Scaled(keras.layers.Layer):
    def call(self, x, context=None, scale=2.0):
        return x * scale if context is None else x * scale + context


def test_the_first_argument_by_name():
    layer = Scaled()
    x, c = np.ones((2, 3), "float32"), np.full((2, 3), 5.0, "float32")
    np.testing.assert_array_equal(layer(x=x), 2 * x)
    np.testing.assert_array_equal(layer(x=x, context=c, scale=3.0), 3 * x + c)
    np.testing.assert_array_equal(layer(inputs=x), 2 * x)  # the base class's own name


def test_multi_head_attention_all_by_name_matches_positional():
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    rng = np.random.default_rng(0)
    q, v = rng.normal(size=(2, 3, 8)).astype("float32"), rng.normal(size=(2, 5, 8))
    out, scores = mha(query=q, key=v, value=v, return_attention_scores=True)
    np.testing.assert_array_equal(out, mha(q, v, v))
    assert scores.shape == (2, 2, 3, 5)


def test_a_call_without_its_first_argument_names_it():
    with pytest.raises(TypeError, match=r"first argument of call \('x'\) must be passed.*"
                                        r"\['context'\]"):
        Scaled()(context=np.ones(3, "float32"))


def test_set_keras_mask_attaches_and_removes():
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(np.array([[3, 0]]))
    np.testing.assert_array_equal(keras.backend.get_keras_mask(embedded), [[True, False]])
    keras.backend.set_keras_mask(embedded, None)
    assert keras.backend.get_keras_mask(embedded) is None
    keras.backend.set_keras_mask(embedded, np.array([[False, True]]))
    np.testing.assert_array_equal(keras.backend.get_keras_mask(embedded), [[False, True]])


def test_mean_of_a_scalar_weighted_by_a_mask():
    # Keras 2: weights that cannot broadcast to the values take the values broadcast to them
    metric = keras.metrics.Mean()
    metric.update_state(0.5, sample_weight=np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    metric.update_state(1.0, sample_weight=np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(metric.result(), (0.5 * 3 + 1.0 * 1) / 4)
    # values of one axis under (batch, 3) weights line up with neither axis (Keras 2 fails
    # too: it squeezes the weights' last axis)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(2, 3\) does not line up "
                                         r"with the values of shape \(2,\)"):
        metric.update_state(np.ones(2), sample_weight=np.ones((2, 3)))
    np.testing.assert_allclose(metric.result(), (0.5 * 3 + 1.0 * 1) / 4)  # left as it was


def test_fit_with_a_scalar_metric_on_a_masked_output():
    # the tutorial's masked_accuracy returns one number per batch; an output that keeps its
    # Embedding mask weighs it by the batch's real steps
    def scalar_metric(y_true, y_pred):
        return tf.reduce_mean(tf.cast(y_true, tf.float32))

    inputs = keras.Input((4,), dtype="int32")
    x = keras.layers.Embedding(6, 3, mask_zero=True)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(optimizer="sgd", loss="mse", metrics=[scalar_metric])
    tokens = np.array([[1, 2, 0, 0], [3, 0, 0, 0]], "int32")
    targets = np.array([[1.0, 1.0, 1.0, 1.0], [3.0, 3.0, 3.0, 3.0]], "float32")[..., None]
    logs = model.evaluate(tokens, targets, batch_size=1, return_dict=True, verbose=0)
    # batch 1: mean 1 over 2 real steps; batch 2: mean 3 over 1 real step
    np.testing.assert_allclose(logs["scalar_metric"], (1.0 * 2 + 3.0 * 1) / 3, rtol=1e-6)
