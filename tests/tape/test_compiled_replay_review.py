"""Adversarial cases for the compiled eager-tape replay: a trace whose structure matches a
compiled one but binds under another configuration must not reuse its program, and the
remembered structures must not keep a block's large arrays alive. Oracle: jax.value_and_grad
of the same math under the same configuration."""

import gc
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import _jaxpr_key as key
from xlaflow import _jaxpr_replay as replay


@pytest.fixture(autouse=True)
def fresh_structures(monkeypatch):
    monkeypatch.setattr(replay, "COMPILE_AT", 2)
    replay._seen.clear()
    yield
    replay._seen.clear()


def _compiled_count():
    return sum(callable(entry) for entry in replay._seen.values())


def test_random_bits_follow_the_threefry_setting_of_each_run():
    # A typed key made outside the block is a constant: the block's jaxpr is the same under
    # either threefry mode, but the bits differ; replay binds under the trace's context.
    rng_key = jax.random.key(0)
    w = xf.Variable(np.ones(5, np.float32))
    for partitionable in (False, False, False, True, True, False):
        with jax.threefry_partitionable(partitionable):
            with xf.GradientTape() as tape:
                y = xf.reduce_sum(w * jax.random.normal(rng_key, (5,)))
            grad = tape.gradient(y, w)
            want, want_grad = jax.value_and_grad(
                lambda v: jnp.sum(v * jax.random.normal(rng_key, (5,))))(jnp.ones(5))
        np.testing.assert_allclose(y, want, rtol=1e-6)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-6)
    assert _compiled_count() == 2  # one program for each mode


def test_an_equation_context_is_part_of_the_key():
    def closed():
        return jax.make_jaxpr(lambda k: jax.random.normal(k, (3,)))(jax.random.key(1))

    with jax.threefry_partitionable(False):
        off = key.structure_key(closed())
        assert off == key.structure_key(closed())
    with jax.threefry_partitionable(True):
        on = key.structure_key(closed())
    assert off is not None and on is not None and off != on


def test_remembered_structures_do_not_keep_a_block_constant_alive():
    # a large constant is an argument of the compiled program, never part of its key
    class Owner:
        def __init__(self):
            self.values = xf.constant(np.arange(10_000, dtype=np.float32))

    def train():
        owner, w = Owner(), xf.Variable(2.0)
        for _ in range(3):
            with xf.GradientTape() as tape:
                y = xf.reduce_sum(owner.values * w)
            np.testing.assert_allclose(tape.gradient(y, w), np.arange(10_000).sum())
        return weakref.ref(owner), weakref.ref(owner.values)

    owner, values = train()
    gc.collect()
    assert _compiled_count() == 1
    assert owner() is None and values() is None


def test_a_generator_draws_new_numbers_each_compiled_step():
    # random ops key their PRNG implementation by identity: the block compiles, and its
    # state Variable still advances; the oracle is the same generator drawing eagerly
    drawing, eager = xf.random.Generator.from_seed(7), xf.random.Generator.from_seed(7)
    w = xf.Variable(np.ones(3, np.float32))
    draws = []
    for _ in range(5):
        with xf.GradientTape() as tape:
            y = xf.reduce_sum(w * drawing.normal([3]))
        want = eager.normal([3])
        np.testing.assert_allclose(tape.gradient(y, w), want, rtol=1e-6)
        np.testing.assert_allclose(y, np.sum(want), rtol=1e-5)
        draws.append(np.asarray(want))
    assert len({d.tobytes() for d in draws}) == 5
    assert _compiled_count() == 1


def test_keras_dropout_in_a_compiled_loop_matches_op_by_op(monkeypatch):
    def train(compile_at):
        monkeypatch.setattr(replay, "COMPILE_AT", compile_at)
        replay._seen.clear()
        xf.keras.utils.set_random_seed(0)
        model = xf.keras.Sequential([xf.keras.layers.Dense(8), xf.keras.layers.Dropout(0.5),
                                     xf.keras.layers.Dense(1)])
        x = np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3)
        model(x)
        opt, losses = xf.keras.optimizers.SGD(0.05), []
        for _ in range(6):
            with xf.GradientTape() as tape:
                loss = xf.reduce_mean((model(x, training=True) - 1.0) ** 2)
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            losses.append(float(loss))
        return losses, [v.numpy() for v in model.variables], _compiled_count()

    eager, eager_vars, none = train(float("inf"))
    compiled, compiled_vars, one = train(2)
    assert (none, one) == (0, 1)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    for a, b in zip(compiled_vars, eager_vars):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
