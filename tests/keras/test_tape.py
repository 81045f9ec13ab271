"""xf.value_and_grad / xf.grad over Variables, eagerly and inside xf.function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def test_value_and_grad_matches_jax():
    w = xf.Variable(jnp.array([1.0, -2.0]))
    b = xf.Variable(0.5)
    x = jnp.array([3.0, 4.0])
    value, (gw, gb) = xf.value_and_grad(lambda: jnp.sum((x * w + b) ** 2), wrt=[w, b])()
    ref_value, (ref_w, ref_b) = jax.value_and_grad(
        lambda p: jnp.sum((x * p[0] + p[1]) ** 2))((w.value, b.value))
    np.testing.assert_allclose(value, ref_value)
    np.testing.assert_allclose(gw, ref_w)
    np.testing.assert_allclose(gb, ref_b)


def test_grad_structure_follows_wrt_and_modules():
    class Pair(xf.Module):
        def __init__(self):
            super().__init__()
            self.a = xf.Variable(2.0)
            self.frozen = xf.Variable(5.0, trainable=False)

    m = Pair()
    grads = xf.grad(lambda: m.a * m.a * m.frozen, wrt={"m": m})()
    assert set(grads) == {"m"} and len(grads["m"]) == 1
    assert float(grads["m"][0]) == 20.0


def test_has_aux_and_side_assignments_persist():
    w = xf.Variable(3.0)
    calls = xf.Variable(0, trainable=False)

    def loss(x):
        calls.assign_add(1)
        return w * x, {"twice": 2 * x}

    (value, aux), g = xf.value_and_grad(loss, wrt=w, has_aux=True)(2.0)
    assert float(value) == 6.0 and float(aux["twice"]) == 4.0 and float(g) == 2.0
    assert int(calls.numpy()) == 1


def test_inside_xf_function_one_program():
    w = xf.Variable(jnp.ones(3))

    @xf.function
    def step(x):
        loss, g = xf.value_and_grad(lambda: jnp.sum((w * x - 1.0) ** 2), wrt=w)()
        w.assign_sub(0.1 * g)
        return loss

    losses = [float(step(jnp.array([1.0, 2.0, 3.0]))) for _ in range(20)]
    assert losses[-1] < losses[0] * 0.01 and step.tracing_count == 1


def test_wrt_must_be_variables():
    with pytest.raises(TypeError, match="wrt must contain xf.Variables or Modules"):
        xf.grad(lambda: 1.0, wrt=[jnp.ones(2)])()
