"""TF2 names that the second round of ported programs found missing, each checked against
TF's documented behaviour or NumPy (the programs are in test_tf2_ports_more.py)."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


def test_loss_reduction_names_as_keras_2():
    # Keras 2: Reduction.NONE keeps one value per example; AUTO is sum-over-batch-size.
    y_true = np.array([[1.0], [2.0], [4.0]], np.float32)
    y_pred = np.zeros((3, 1), np.float32)
    losses = keras.losses
    none = losses.MeanSquaredError(reduction=losses.Reduction.NONE)(y_true, y_pred)
    np.testing.assert_allclose(none, [1.0, 4.0, 16.0])
    auto = losses.MeanSquaredError(reduction=losses.Reduction.AUTO)(y_true, y_pred)
    np.testing.assert_allclose(auto, 7.0)
    total = losses.MeanSquaredError(reduction=losses.Reduction.SUM)(y_true, y_pred)
    np.testing.assert_allclose(total, 21.0)
    with pytest.raises(ValueError, match="Invalid Reduction Key"):
        losses.Reduction.validate("mean")


def test_loss_scale_optimizer_keras_2_custom_loop_unscales_once():
    # Keras 2's mixed-precision guide: gradients of get_scaled_loss, divided by
    # get_unscaled_gradients, then apply_gradients (which must not divide again).
    # loss = sum(c * w) has gradient c, so one SGD(0.5) step moves w by -0.5 * c.
    c = np.array([1.0, -2.0, 4.0], np.float32)
    w = xf.Variable(np.zeros(3, np.float32))
    opt = keras.mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(0.5),
                                                   dynamic_growth_steps=2)

    @xf.function
    def step(c):
        with xf.GradientTape() as tape:
            loss = xf.reduce_sum(c * w)
            scaled = opt.get_scaled_loss(loss)
        grads = opt.get_unscaled_gradients(tape.gradient(scaled, [w]))
        opt.apply_gradients(zip(grads, [w]))
        return grads[0]

    grad = step(c)
    np.testing.assert_allclose(grad, c)
    np.testing.assert_allclose(w.numpy(), -0.5 * c)
    step(c)  # a second finite step: the scale doubles (growth steps = 2)
    np.testing.assert_allclose(w.numpy(), -1.0 * c)
    assert float(opt.scale.numpy()) == 2.0 ** 16 == float(opt.loss_scale) and opt.dynamic
    step(np.array([np.inf, 0.0, 0.0], np.float32))  # not finite: skipped, scale halves
    np.testing.assert_allclose(w.numpy(), -1.0 * c)
    assert float(opt.scale.numpy()) == 2.0 ** 15
    # the Keras 3 flow (scaled gradients straight to apply_gradients) still divides there
    opt.apply_gradients(zip([opt.get_scaled_loss(xf.constant(c))], [w]))
    np.testing.assert_allclose(w.numpy(), -1.5 * c)


def test_float32_head_after_a_mixed_layer_casts_its_inputs(policy_float32_after):
    # Keras 2's mixed-precision guide: Activation('softmax', dtype='float32') on a
    # float16 Dense output gives float32 outputs (layers autocast floating inputs).
    keras.mixed_precision.set_global_policy("mixed_float16")
    inputs = keras.Input(shape=(3,))
    hidden = keras.layers.Dense(3)(inputs)
    head = keras.layers.Activation("softmax", dtype="float32")
    outputs = head(hidden)
    assert str(hidden.dtype) == "float16" and str(outputs.dtype) == "float32"
    logits = np.array([[1.0, 2.0, 3.0]], np.float16)
    result = head(xf.constant(logits))
    assert str(result.dtype) == "float32"
    expected = np.exp(logits.astype(np.float32)) / np.exp(logits.astype(np.float32)).sum()
    np.testing.assert_allclose(result, expected, rtol=1e-6)


@pytest.fixture
def policy_float32_after():
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_class_weight_weighs_dataset_batches_as_arrays_do():
    # Keras 2 accepts class_weight with a dataset of (x, y) batches; the weighted loss must
    # equal fit on the same arrays (one step of SGD from the same weights, no shuffle).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    weights = {0: 1.0, 1: 3.0}

    def model():
        xf.random.set_global_seed(0)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.
                  SparseCategoricalCrossentropy(from_logits=True))
        return m

    on_arrays, on_dataset = model(), model()
    a = on_arrays.fit(x, y, batch_size=16, shuffle=False, class_weight=weights, verbose=0)
    ds = xf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    b = on_dataset.fit(ds, class_weight=weights, verbose=0)
    np.testing.assert_allclose(b.history["loss"], a.history["loss"], rtol=1e-6)
    for u, v in zip(on_arrays.get_weights(), on_dataset.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-6)
    # and the weights matter: the unweighted loss differs
    plain = model().fit(ds, verbose=0)
    assert abs(plain.history["loss"][0] - b.history["loss"][0]) > 1e-3
    with pytest.raises(ValueError, match=r"class_weight has no weight for classes \[1\]"):
        model().fit(ds, class_weight={0: 1.0}, verbose=0)
