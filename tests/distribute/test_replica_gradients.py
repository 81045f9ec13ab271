"""Gradients inside strategy.run, as TF's MirroredStrategy: each replica's tape gives its own
gradient (checked against jax.grad on its slice of a distributed batch), and
apply_gradients inside run sums the replicas' gradients and applies the sum exactly once."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf

pytestmark = pytest.mark.two_devices

RNG = np.random.default_rng(7)
X = RNG.normal(size=(8, 3)).astype(np.float32)
Y = RNG.normal(size=(8, 2)).astype(np.float32)
W0 = RNG.normal(size=(3, 2)).astype(np.float32)
B0 = RNG.normal(size=(2,)).astype(np.float32)


def loss_fn(w, b, x, y):
    """The replica's loss: its squared error summed, over the global batch of 8."""
    return jnp.sum((jnp.tanh(x @ w + b) - y) ** 2) / 8.0


def oracle_grads(w, b):
    """Each replica's gradient on its own half of the batch, by jax.grad."""
    return [jax.grad(loss_fn, argnums=(0, 1))(w, b, X[r * 4:(r + 1) * 4], Y[r * 4:(r + 1) * 4])
            for r in range(2)]


def distributed(strategy, *arrays):
    """The arrays as one batch of a distributed dataset: replica r gets rows 4r .. 4r+3."""
    dataset = xf.data.Dataset.from_tensor_slices(arrays).batch(len(arrays[0]))
    return next(iter(strategy.experimental_distribute_dataset(dataset)))


def setup(optimizer=None):
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        w, b = xf.Variable(W0), xf.Variable(B0)
        opt = optimizer() if optimizer else None
    return strategy, w, b, opt


def test_tape_gradients_inside_run_are_each_replicas_own():
    strategy, w, b, _ = setup()

    def step(x, y):
        with xf.GradientTape() as tape:
            loss = loss_fn(w, b, x, y)
        return tape.gradient(loss, [w, b])

    grads = strategy.run(step, args=distributed(strategy, X, Y))
    local_w = strategy.experimental_local_results(grads[0])
    local_b = strategy.experimental_local_results(grads[1])
    for r, (gw, gb) in enumerate(oracle_grads(W0, B0)):
        np.testing.assert_allclose(local_w[r], gw, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(local_b[r], gb, rtol=1e-5, atol=1e-6)
    # the replicas' gradients differ: the halves of the batch differ
    assert not np.allclose(local_w[0], local_w[1])


def test_value_and_grad_inside_run_is_per_replica_too():
    strategy, w, b, _ = setup()

    @xf.function
    def step(x, y):
        return strategy.run(lambda xs, ys: xf.value_and_grad(
            lambda: loss_fn(w, b, xs, ys), wrt=[w, b])()[1], args=(x, y))

    grads = step(*distributed(strategy, X, Y))
    for r, (gw, gb) in enumerate(oracle_grads(W0, B0)):
        np.testing.assert_allclose(strategy.experimental_local_results(grads[0])[r], gw,
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(strategy.experimental_local_results(grads[1])[r], gb,
                                   rtol=1e-5, atol=1e-6)


def test_apply_gradients_inside_run_applies_the_sum_once():
    strategy, w, b, opt = setup(lambda: xf.keras.optimizers.SGD(0.5))

    @xf.function
    def train(x, y):
        def step(xs, ys):
            with xf.GradientTape() as tape:
                loss = loss_fn(w, b, xs, ys)
            grads = tape.gradient(loss, [w, b])
            opt.apply_gradients(zip(grads, [w, b]))
            return grads
        return strategy.run(step, args=(x, y))

    grads = train(*distributed(strategy, X, Y))
    (gw0, gb0), (gw1, gb1) = oracle_grads(W0, B0)
    np.testing.assert_allclose(w.numpy(), W0 - 0.5 * (gw0 + gw1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), B0 - 0.5 * (gb0 + gb1), rtol=1e-5, atol=1e-6)
    assert int(opt.iterations.numpy()) == 1
    # the per-replica gradients run returns are still each replica's own
    np.testing.assert_allclose(strategy.experimental_local_results(grads[0])[1], gw1,
                               rtol=1e-5, atol=1e-6)
    # a second step starts from the updated weights: the sum of the new gradients
    w1, b1 = w.numpy(), b.numpy()
    train(*distributed(strategy, X, Y))
    (gw0, gb0), (gw1, gb1) = oracle_grads(w1, b1)
    np.testing.assert_allclose(w.numpy(), w1 - 0.5 * (gw0 + gw1), rtol=1e-5, atol=1e-6)
    assert int(opt.iterations.numpy()) == 2


def test_adam_inside_run_matches_adam_on_the_summed_gradient():
    strategy, w, b, opt = setup(lambda: xf.keras.optimizers.Adam(0.1))

    def step(x, y):
        with xf.GradientTape() as tape:
            loss = loss_fn(w, b, x, y)
        opt.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))
        return loss

    strategy.run(step, args=distributed(strategy, X, Y))
    (gw0, gb0), (gw1, gb1) = oracle_grads(W0, B0)
    for got, start, g in ((w, W0, gw0 + gw1), (b, B0, gb0 + gb1)):
        g = np.asarray(g, np.float64)
        m, v = 0.1 * g, 0.001 * g * g  # Keras Adam's first step, epsilon 1e-7
        lr = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
        np.testing.assert_allclose(got.numpy(), start - lr * m / (np.sqrt(v) + 1e-7),
                                   rtol=1e-5, atol=1e-6)


def test_gradients_all_reduced_by_hand_are_not_summed_again():
    strategy, w, b, opt = setup(lambda: xf.keras.optimizers.SGD(0.5))

    def step(x, y):
        with xf.GradientTape() as tape:
            loss = loss_fn(w, b, x, y)
        grads = tape.gradient(loss, [w, b])
        summed = xf.distribute.get_replica_context().all_reduce("sum", grads)
        opt.apply_gradients(zip(summed, [w, b]), skip_gradients_aggregation=True)
        return loss

    strategy.run(step, args=distributed(strategy, X, Y))
    (gw0, _), (gw1, _) = oracle_grads(W0, B0)
    np.testing.assert_allclose(w.numpy(), W0 - 0.5 * (gw0 + gw1), rtol=1e-5, atol=1e-6)


def test_loss_scale_optimizer_inside_run_applies_the_unscaled_sum_once():
    strategy, w, b, opt = setup(lambda: xf.keras.mixed_precision.LossScaleOptimizer(
        xf.keras.optimizers.SGD(0.5)))

    def step(x, y):
        with xf.GradientTape() as tape:
            loss = loss_fn(w, b, x, y)
            scaled = opt.get_scaled_loss(loss)
        # xlaflow's LossScaleOptimizer (Keras 3's) unscales in apply_gradients
        opt.apply_gradients(zip(tape.gradient(scaled, [w, b]), [w, b]))
        return loss

    strategy.run(step, args=distributed(strategy, X, Y))
    (gw0, gb0), (gw1, gb1) = oracle_grads(W0, B0)
    np.testing.assert_allclose(w.numpy(), W0 - 0.5 * (gw0 + gw1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b.numpy(), B0 - 0.5 * (gb0 + gb1), rtol=1e-4, atol=1e-5)


def test_a_trainable_variable_assigned_from_its_own_copy_inside_run_is_refused():
    """As TF: a MirroredVariable without an aggregation cannot be assigned in a replica
    context (each replica holds its own copy); nothing is written."""
    strategy, w, _, _ = setup()
    with pytest.raises(ValueError, match="trainable and was assigned a different value"):
        strategy.run(lambda x: w.assign(w * 2.0), args=(X,))
    np.testing.assert_array_equal(w.numpy(), W0)
