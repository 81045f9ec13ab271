"""xf.stop_gradient and xf.UnconnectedGradients, against hand-derived gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def test_stop_gradient_blocks_the_tape_as_in_tf():
    w = xf.Variable(3.0)

    @xf.function
    def grads(x):
        with xf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x * xf.stop_gradient(x)       # d/dx = stop(x) = x, not 2x
            z = xf.stop_gradient(w * x)       # no path at all
        return (tape.gradient(y, x), tape.gradient(z, [x, w]),
                tape.gradient(z, [x, w], unconnected_gradients=xf.UnconnectedGradients.ZERO))

    dy, dz_none, dz_zero = grads(jnp.float32(2.0))
    assert float(dy) == 2.0
    assert dz_none == [None, None]
    assert [float(g) for g in dz_zero] == [0.0, 0.0]


def test_stop_gradient_of_a_variable_and_structures_under_jax_grad():
    v = xf.Variable([1.0, 2.0])
    out = xf.stop_gradient({"v": v, "x": jnp.float32(1.0)})
    np.testing.assert_allclose(out["v"], [1.0, 2.0])
    assert isinstance(out["v"], jax.Array)
    assert float(jax.grad(lambda x: x * xf.stop_gradient(x * x))(jnp.float32(3.0))) == 9.0


def test_unconnected_gradients_enum_in_jacobian_and_batch_jacobian():
    assert xf.UnconnectedGradients.NONE.value == "none"
    assert xf.UnconnectedGradients.ZERO.value == "zero"
    b = xf.Variable(jnp.ones((2,)))

    @xf.function
    def jacs(x):
        with xf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x * x
        zero = xf.UnconnectedGradients.ZERO
        return (tape.jacobian(y, b, unconnected_gradients=zero),
                tape.batch_jacobian(y, x, unconnected_gradients=zero),
                tape.jacobian(y, b, unconnected_gradients=xf.UnconnectedGradients.NONE))

    x = jnp.asarray([[1.0, 2.0], [3.0, 4.0]], jnp.float32)
    jb, bj, none = jacs(x)
    assert jb.shape == (2, 2, 2) and not np.any(jb)
    np.testing.assert_allclose(bj, np.stack([np.diag(2 * r) for r in np.asarray(x)]))
    assert none is None


def test_a_bad_unconnected_gradients_value_names_the_choices_before_using_the_tape():
    @xf.function
    def bad(x):
        with xf.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        with pytest.raises(ValueError, match=r"UnconnectedGradients.NONE or .ZERO .*"
                                             r"received 'zeros'"):
            tape.gradient(y, x, unconnected_gradients="zeros")
        return tape.gradient(y, x)  # the refused call did not spend the tape

    assert float(bad(jnp.float32(3.0))) == 6.0


def test_a_variable_chosen_by_a_tensor_if_is_read_and_the_predicate_carries_no_gradient():
    # TF's autodiff guide's control-flow example inside a tf.function: tf.cond reads the
    # Variable a branch returns; the watched x decides the branch but gets no gradient
    v0, v1 = xf.Variable(2.0), xf.Variable(2.0)

    @xf.function
    def grads(x):
        with xf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            if x > 0.0:
                result = v0
            else:
                result = v1 ** 2
        return tape.gradient(result, [v0, v1]), tape.gradient(result, x)

    (dv0, dv1), dx = grads(xf.constant(1.0))
    assert float(dv0) == 1.0 and float(dv1) == 0.0  # cond's gradient: zeros, not taken
    assert dx is None
    (dv0, dv1), dx = grads(xf.constant(-1.0))
    assert float(dv0) == 0.0 and float(dv1) == 4.0 and dx is None
