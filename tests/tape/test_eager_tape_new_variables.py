"""Eager tapes and Variables first reached deeper than the block's own trace: a layer built
inside a nested tape's block (TF's advanced-autodiff guide) or first read in a tensor `if`.

Oracles: jax.grad / jax.hessian of the same computation written with jax.numpy.
"""

import jax
import jax.numpy as jnp
import numpy as np

import xlaflow as xf
from xlaflow import keras


def test_a_layer_built_inside_a_nested_tapes_block_gets_second_order_gradients():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(7, 5)), jnp.float32)
    layer = keras.layers.Dense(10, activation="tanh")  # built by its first call, below
    with xf.GradientTape() as t2:
        with xf.GradientTape(watch_accessed_variables=False) as t1:
            t1.watch(x)
            out = xf.reduce_sum(layer(x) ** 2)
        g1 = t1.gradient(out, x)
        g1_mag = xf.norm(g1)
    grads = t2.gradient(g1_mag, layer.trainable_variables)

    def magnitude(kernel, bias):
        def out_of(x_):
            return jnp.sum(jnp.tanh(x_ @ kernel + bias) ** 2)
        return jnp.linalg.norm(jax.grad(out_of)(x))

    kernel, bias = (jnp.asarray(v.numpy()) for v in layer.trainable_variables)
    expected = jax.grad(magnitude, argnums=(0, 1))(kernel, bias)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_a_hessian_of_a_layer_built_inside_the_inner_block():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(4, 3)), jnp.float32)
    layer = keras.layers.Dense(2, activation="tanh")
    with xf.GradientTape() as t2:
        with xf.GradientTape() as t1:
            loss = xf.reduce_mean(layer(x) ** 2)
        g = t1.gradient(loss, layer.kernel)
    h = t2.jacobian(g, layer.kernel)
    bias = jnp.asarray(layer.bias.numpy())

    def plain(kernel):
        return jnp.mean(jnp.tanh(x @ kernel + bias) ** 2)

    kernel = jnp.asarray(layer.kernel.numpy())
    np.testing.assert_allclose(g, jax.grad(plain)(kernel), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(h, jax.hessian(plain)(kernel), rtol=1e-4, atol=1e-6)


def test_a_variable_first_read_in_a_tensor_if_or_created_in_a_nested_block():
    x = xf.constant(1.5)
    layer = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")
    with xf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        if x > 0:  # a tensor condition: a lax.cond whose branch builds the layer
            y = xf.reduce_sum(layer(xf.reshape(x, (1, 1))) ** 2)
        else:
            y = x
    assert float(y) == 1.5 ** 2
    assert float(tape.gradient(y, layer.kernel)[0, 0]) == 2 * 1.5 * 1.5  # 2 (k x) x
    assert float(tape.gradient(y, x)) == 2 * 1.5

    v = None
    with xf.GradientTape() as outer:
        with xf.GradientTape() as inner:
            inner.watch(x)
            v = xf.Variable(2.0)
            out = (v * x) ** 2
        g = inner.gradient(out, x)  # 2 v^2 x
    assert float(g) == 2 * 4.0 * 1.5
    assert float(outer.gradient(g, v)) == 4 * 2.0 * 1.5  # d(2 v^2 x)/dv
