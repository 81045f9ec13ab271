"""keras.Input and metrics follow keras.backend.floatx() when given no dtype, as Keras 2."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xlaflow import keras, mixed_precision


@pytest.fixture(params=["float16", "bfloat16"])
def floatx(request):
    """floatx set to a half type for the test, and float32 again after it."""
    keras.backend.set_floatx(request.param)
    try:
        yield jnp.dtype(request.param)
    finally:
        keras.backend.set_floatx("float32")
        mixed_precision.set_global_policy(None)


def test_input_takes_floatx_when_given_no_dtype(floatx):
    assert keras.Input((3,)).dtype == floatx
    assert keras.Input((3,), dtype="int32").dtype == jnp.int32  # a given dtype wins
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2)(x))
    assert model.predict(np.ones((2, 3), np.float32), verbose=0).dtype == floatx


def test_metric_accumulators_and_results_are_in_floatx(floatx):
    mean = keras.metrics.Mean()
    mean.update_state(np.array([1.0, 2.0, 4.0], np.float32), sample_weight=[1.0, 1.0, 2.0])
    assert {v.dtype for v in mean.variables} == {floatx} and mean.result().dtype == floatx
    assert float(mean.result()) == pytest.approx((1 + 2 + 8) / 4, rel=1e-2)
    assert mean.get_config()["dtype"] == floatx.name
    assert keras.metrics.Mean(dtype="float32").result().dtype == jnp.float32  # given wins
    precision = keras.metrics.Precision()  # counts of hits, weighted: a closed form
    precision.update_state([1.0, 0.0, 1.0, 0.0], [0.9, 0.8, 0.7, 0.1],
                           sample_weight=[1.0, 3.0, 2.0, 1.0])
    assert precision.true_positives.dtype == floatx
    assert float(precision.result()) == pytest.approx(3 / 6, rel=1e-2)
    accuracy = keras.metrics.SparseCategoricalAccuracy()
    accuracy.update_state(np.array([1, 0, 1]), np.array([[0.2, 0.8], [0.3, 0.7], [0.1, 0.9]]))
    assert accuracy.result().dtype == floatx and float(accuracy.result()) == pytest.approx(2 / 3,
                                                                                         rel=1e-2)


def test_compiled_metrics_follow_floatx_through_fit(floatx):
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy", keras.metrics.Recall()])
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(16, 3)).astype(np.float32), np.ones((16, 1), np.float32)
    history = model.fit(features, labels, batch_size=8, epochs=1, verbose=0)
    assert {m.dtype for m in model.metrics} == {floatx}
    predicted = model.predict(features, verbose=0).astype(np.float32) > 0.5
    assert history.history["recall"][0] == pytest.approx(predicted.mean(), abs=0.07)


def test_mixed_precision_keeps_metric_accumulators_in_float32():
    # Keras 2: a metric's dtype is its policy's variable dtype, float32 under mixed_float16
    mixed_precision.set_global_policy("mixed_float16")
    try:
        assert keras.metrics.Mean().dtype == jnp.float32
        assert keras.Input((2,)).dtype == jnp.float32  # floatx is still float32
    finally:
        mixed_precision.set_global_policy(None)


def test_float64_floatx_is_refused_without_x64_and_changes_no_default():
    if jax.config.jax_enable_x64:
        pytest.skip("64-bit JAX accepts floatx float64")
    with pytest.raises(ValueError, match="jax_enable_x64"):
        keras.backend.set_floatx("float64")
    assert keras.Input((2,)).dtype == jnp.float32
    assert keras.metrics.Mean().dtype == jnp.float32


def test_half_precision_metrics_with_nothing_counted_are_zero_not_nan(floatx):
    # Keras divides with div_no_nan: 0 for an empty ratio. A 1e-12 floor underflows to 0
    # in float16, so 0 / 0 gave NaN (an unused Mean, Precision with no predicted positive)
    assert float(keras.metrics.Mean().result()) == 0.0
    precision, recall = keras.metrics.Precision(), keras.metrics.Recall()
    precision.update_state([1, 1], [0.1, 0.2])
    recall.update_state([0, 0], [0.1, 0.9])
    assert (float(precision.result()), float(recall.result())) == (0.0, 0.0)
    auc = keras.metrics.AUC()
    auc.update_state([1, 1], [0.3, 0.8])  # no negatives: Keras 2's AUC is 0 here
    assert not np.isnan(float(auc.result()))
