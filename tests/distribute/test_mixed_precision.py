"""Mixed precision: compute dtype, float32 variables and gradients, float32 losses, and
dynamic loss scaling that skips non-finite steps."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, mixed_precision, models

RNG = np.random.default_rng(1)
X = RNG.normal(size=(128, 8)).astype(np.float32)
Y = (X[:, 0] + X[:, 2] > 0).astype(np.int32)


@pytest.fixture
def policy():
    def use(name):
        mixed_precision.set_global_policy(name)
    yield use
    mixed_precision.set_global_policy("float32")


def test_mixed_bfloat16_computes_low_and_keeps_variables_float32(policy):
    policy("mixed_bfloat16")
    dense = layers.Dense(4)
    out = dense(X[:3])
    assert out.dtype == jnp.bfloat16
    assert dense.kernel.dtype == jnp.float32 and dense.compute_dtype == jnp.bfloat16
    np.testing.assert_allclose(np.float32(out), X[:3] @ dense.kernel.numpy(), rtol=2e-2,
                               atol=2e-2)
    grads = xf.grad(lambda: jnp.sum(dense(X[:3]).astype(jnp.float32)),
                    wrt=dense.trainable_variables)()
    assert [g.dtype for g in grads] == [jnp.float32, jnp.float32]
    assert dense.get_config()["dtype"] == "mixed_bfloat16"


def test_fit_in_mixed_bfloat16_learns_and_batchnorm_stats_stay_float32(policy):
    policy("mixed_bfloat16")
    model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(8,)),
                               layers.BatchNormalization(),
                               layers.Dense(2, activation="softmax", dtype="float32")])
    model.compile(optimizer=xf.keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X, Y, epochs=4, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] * 0.8
    assert all(w.dtype == jnp.float32 for w in model.weights)
    assert model.predict(X[:4], verbose=0).dtype == np.float32  # the float32 head


def test_loss_scale_optimizer_skips_non_finite_steps_and_adapts_the_scale():
    w = xf.Variable(np.float32([1.0, 2.0]))
    opt = mixed_precision.LossScaleOptimizer(xf.keras.optimizers.SGD(0.5), initial_scale=8.0,
                                             dynamic_growth_steps=2)
    assert float(opt.scale_loss(jnp.float32(3.0))) == 24.0
    opt.apply([jnp.float32([8.0, 16.0])], [w])  # scaled grads of [1, 2]
    np.testing.assert_allclose(w.numpy(), [0.5, 1.0])
    opt.apply([jnp.float32([np.inf, 0.0])], [w])  # overflow: skipped, scale halved
    np.testing.assert_allclose(w.numpy(), [0.5, 1.0])
    # The skipped step still counts in iterations (Keras 2), so schedules stay aligned.
    assert float(opt.scale.numpy()) == 4.0 and int(opt.iterations.numpy()) == 2
    opt.apply([jnp.float32([4.0, 4.0])], [w])
    opt.apply([jnp.float32([4.0, 4.0])], [w])  # two finite steps in a row: scale doubles
    np.testing.assert_allclose(w.numpy(), [-0.5, 0.0])
    assert float(opt.scale.numpy()) == 8.0


def test_mixed_float16_fit_wraps_the_optimizer(policy):
    policy("mixed_float16")
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                               layers.Dense(2, activation="softmax", dtype="float32")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert isinstance(model.optimizer, mixed_precision.LossScaleOptimizer)
    history = model.fit(X, Y, epochs=3, batch_size=32, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.layers[0].kernel.dtype == jnp.float32


def test_tf2_scaled_loss_helpers_and_empty_apply():
    # Keras 2's get_unscaled_gradients is supported (test_tf2_port_gaps_more.py checks it)
    opt = mixed_precision.LossScaleOptimizer(xf.keras.optimizers.SGD(0.1))
    assert float(opt.get_scaled_loss(jnp.float32(1.0))) == 2.0 ** 15
    with pytest.raises(ValueError, match="no gradients to apply"):
        opt.apply([], [])


def test_a_mixed_float16_model_saves_loads_and_trains_on_identically(policy, tmp_path):
    from tests.local_platform import HERE
    policy("mixed_float16")
    xf.random.set_global_seed(3)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(8,)),
                               layers.Dense(2, activation="softmax", dtype="float32")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    model.save(tmp_path / "m", platforms=HERE)
    policy("float32")  # a fresh process would load with the default policy
    loaded = xf.keras.models.load_model(tmp_path / "m")
    assert type(loaded.optimizer).__name__ == "LossScaleOptimizer"
    np.testing.assert_array_equal(float(loaded.optimizer.scale.numpy()),
                                  float(model.optimizer.scale.numpy()))
    for m in (model, loaded):
        m.fit(X, Y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the wrapper is also accepted as Keras documents it
    model.compile(optimizer=mixed_precision.LossScaleOptimizer(xf.keras.optimizers.SGD(0.1)),
                  loss="sparse_categorical_crossentropy")
