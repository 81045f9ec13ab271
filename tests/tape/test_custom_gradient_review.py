"""xf.custom_gradient under review: grad_fn receives one upstream gradient per flattened
output, as TF's tf.custom_gradient passes nest.flatten(result)'s gradients. Oracle: the
hand-written derivative of each output."""

import jax
import jax.numpy as jnp
import pytest

import xlaflow as xf


def test_nested_outputs_give_grad_fn_one_upstream_per_flattened_output():
    @xf.custom_gradient
    def nested(x):
        def grad_fn(da, db, dc):  # TF: grad_fn(*flat upstream gradients)
            return da * 2.0 + db * 3.0 + dc * 4.0
        return (x * 2.0, (x * 3.0, x * 4.0)), grad_fn

    def total(x):
        a, (b, c) = nested(x)
        return a + 5.0 * b + 7.0 * c

    assert float(jax.grad(total)(1.5)) == pytest.approx(2.0 + 15.0 + 28.0)


def test_dict_outputs_are_flattened_in_sorted_key_order():
    @xf.custom_gradient
    def named(x):
        def grad_fn(d_alpha, d_beta):  # sorted keys: "alpha", then "beta"
            return d_alpha * 2.0 + d_beta * 3.0
        return {"beta": x * 3.0, "alpha": x * 2.0}, grad_fn

    def total(x):
        out = named(x)
        return jnp.sum(10.0 * out["alpha"] + out["beta"])

    assert float(jax.grad(total)(0.5)) == pytest.approx(20.0 + 3.0)
