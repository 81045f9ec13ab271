"""Two tapes of one `with` statement (TF's DCGAN step): one recording serves both.

Oracle: jax.grad of the same losses written with jax.numpy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def gan_losses(gw, dw, noise, images):
    """A linear generator and discriminator with TF's DCGAN losses (from logits)."""
    def bce_logits(labels, logits):
        return jnp.mean(jnp.maximum(logits, 0) - logits * labels +
                        jnp.log1p(jnp.exp(-jnp.abs(logits))))
    fake = (noise @ gw) @ dw
    real = images @ dw
    gen_loss = bce_logits(jnp.ones_like(fake), fake)
    disc_loss = bce_logits(jnp.ones_like(real), real) + bce_logits(jnp.zeros_like(fake), fake)
    return gen_loss, disc_loss


@pytest.mark.parametrize("compiled", [True, False])
def test_a_gan_step_takes_each_tapes_gradient_after_the_block(compiled):
    rng = np.random.default_rng(0)
    gw0 = rng.normal(size=(2, 3)).astype("float32")
    dw0 = rng.normal(size=(3, 1)).astype("float32")
    noise = rng.normal(size=(4, 2)).astype("float32")
    images = rng.normal(size=(4, 3)).astype("float32")
    gw, dw = xf.Variable(gw0), xf.Variable(dw0)
    bce = xf.keras.losses.BinaryCrossentropy(from_logits=True)

    def step(noise, images):
        with xf.GradientTape() as gen_tape, xf.GradientTape() as disc_tape:
            fake = (noise @ gw) @ dw
            real = images @ dw
            gen_loss = bce(xf.ones_like(fake), fake)
            disc_loss = bce(xf.ones_like(real), real) + bce(xf.zeros_like(fake), fake)
        gen_grads = gen_tape.gradient(gen_loss, [gw])
        disc_grads = disc_tape.gradient(disc_loss, [dw, gw])
        return gen_loss, disc_loss, gen_grads, disc_grads

    gen_loss, disc_loss, (g_gw,), (d_dw, d_gw) = (xf.function(step) if compiled else step)(
        noise, images)
    expected = gan_losses(gw0, dw0, noise, images)
    np.testing.assert_allclose([gen_loss, disc_loss], expected, rtol=1e-5)
    np.testing.assert_allclose(
        g_gw, jax.grad(lambda g: gan_losses(g, dw0, noise, images)[0])(gw0), rtol=1e-5)
    d_dw_expected, d_gw_expected = jax.grad(
        lambda d, g: gan_losses(g, d, noise, images)[1], argnums=(0, 1))(dw0, gw0)
    np.testing.assert_allclose(d_dw, d_dw_expected, rtol=1e-5)
    np.testing.assert_allclose(d_gw, d_gw_expected, rtol=1e-5)


def test_three_tapes_a_watch_on_the_last_and_another_manager_between():
    v = xf.Variable(2.0)

    @xf.function
    def step(x):
        with xf.GradientTape() as t1, xf.name_scope("block"), \
                xf.GradientTape() as t2, xf.GradientTape(persistent=True) as t3:
            t3.watch(x)
            y = v * v * x
        return t1.gradient(y, v), t2.gradient(y, v), t3.gradient(y, x), t3.gradient(y, v)

    dv1, dv2, dx, dv3 = step(xf.constant(3.0))
    assert float(dv1) == 12.0 and float(dv2) == 12.0 and float(dv3) == 12.0  # 2*v*x
    assert float(dx) == 4.0  # v*v


def test_tapes_with_different_watching_policies_stay_nested_and_say_so():
    v = xf.Variable(2.0)

    @xf.function
    def step(x):
        with xf.GradientTape() as t1, xf.GradientTape(watch_accessed_variables=False) as t2:
            t2.watch(v)
            y = v * x
        return t1.gradient(y, v), t2.gradient(y, v)

    with pytest.raises(NotImplementedError, match="nest the blocks"):
        step(xf.constant(3.0))


@pytest.mark.parametrize("compiled", [True, False])
def test_a_follower_of_a_failed_block_records_on_its_own_afterwards(compiled):
    v = xf.Variable(2.0)
    leader, follower = xf.GradientTape(), xf.GradientTape()

    def failing():
        with leader, follower:
            y = v * v
            raise ValueError("inside the block")
        return y

    def alone(x):
        with follower:
            follower.watch(x)
            y = x * x * v
        return follower.gradient(y, [x, v])

    def leading(x):
        other = xf.GradientTape()
        with follower, other:
            y = v * x
        return follower.gradient(y, v), other.gradient(y, v)

    run = xf.function if compiled else (lambda f: f)
    with pytest.raises(ValueError, match="inside the block"):
        run(failing)()
    dx, dv = run(alone)(xf.constant(3.0))
    assert float(dx) == 12.0 and float(dv) == 9.0  # 2xv, x^2
    assert [float(g) for g in run(leading)(xf.constant(3.0))] == [3.0, 3.0]


def test_entering_a_recording_tape_again_raises_tfs_error():
    v = xf.Variable(2.0)

    @xf.function
    def twice_in_one_statement(x):
        t = xf.GradientTape()
        with t, t:
            t.watch(x)
            y = x * v
        return t.gradient(y, x)

    @xf.function
    def nested_in_its_own_block(x):
        t = xf.GradientTape()
        with t:
            y = x * v
            with t:
                z = y * v
        return t.gradient(z, v)

    for step in (twice_in_one_statement, nested_in_its_own_block):
        with pytest.raises(ValueError, match="re-enter an already-active tape"):
            step(xf.constant(3.0))
