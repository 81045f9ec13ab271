"""xf.recompute_grad: gradients equal jax.grad of the plain function, and the backward
pass recomputes the forward instead of keeping its intermediates."""

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

import xlaflow as xf
from xlaflow.keras import layers


def _block(x, scale):
    return jnp.sin(jnp.sin(x)) * scale


def _count(jaxpr, name):
    total = 0
    for eqn in jaxpr.eqns:
        total += eqn.primitive.name == name
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            total += _count(sub, name)
    return total


def test_gradients_match_and_the_forward_is_recomputed():
    checkpointed = xf.recompute_grad(_block)
    x = jnp.linspace(-1.0, 1.0, 5, dtype=jnp.float32)
    grad = jax.grad(lambda x: jnp.sum(checkpointed(x, 2.0)))
    np.testing.assert_allclose(grad(x), jax.grad(lambda x: jnp.sum(_block(x, 2.0)))(x),
                               rtol=1e-6)
    # plain: 2 sins in the forward; checkpointed: the inner sin again in the backward
    plain_sins = _count(jax.make_jaxpr(jax.grad(lambda x: jnp.sum(_block(x, 2.0))))(x).jaxpr,
                        "sin")
    remat_sins = _count(jax.make_jaxpr(grad)(x).jaxpr, "sin")
    assert plain_sins == 2 and remat_sins == 3
    assert checkpointed.__name__ == "_block"


def test_a_keras_layer_reading_variables_under_a_tape():
    dense = layers.Dense(3, activation="tanh")
    x = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    dense(x)
    checkpointed = xf.recompute_grad(dense)

    @xf.function
    def grads(x):
        with xf.GradientTape() as tape:
            loss = jnp.sum(checkpointed(x) ** 2)
        return tape.gradient(loss, dense.trainable_variables)

    kernel, bias = (np.asarray(w) for w in dense.get_weights())
    want = jax.grad(lambda p: jnp.sum(jnp.tanh(x @ p[0] + p[1]) ** 2))([kernel, bias])
    for got, expected in zip(grads(x), want):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_assignments_inside_persist_once():
    count = xf.Variable(0, trainable=False)
    w = xf.Variable(2.0)

    def body(x):
        count.assign_add(1)
        return x * w

    checkpointed = xf.recompute_grad(body)

    @xf.function
    def grads(x):
        with xf.GradientTape() as tape:
            y = checkpointed(x)
        return tape.gradient(y, w)

    assert float(grads(jnp.float32(3.0))) == 3.0
    assert int(count.numpy()) == 1
