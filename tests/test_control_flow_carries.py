"""Python values carried through xf.while_loop, xf.scan and xf.cond become TF's tensors
(tf.convert_to_tensor: 0.0 is float32, 0 is int32), never JAX's weakly typed scalars,
which lax.while_loop / lax.scan keep or promote to the body's dtype."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf

BF16 = jnp.bfloat16


def _kind(x):
    return str(x.dtype), jax.typeof(x).weak_type


def _while(step, init, compiled):
    if not compiled:
        return xf.while_loop(lambda c: c < 3, step, init)
    # a traced bound: one lax.while_loop, as inside xf.function
    return jax.jit(lambda n: xf.while_loop(lambda c: c < n, step, init))(3)


def _scan(step, init, elems, compiled):
    run = lambda e: xf.scan(step, e, initializer=init)
    return (jax.jit(run) if compiled else run)(elems)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "traced"])
def test_a_python_float_carry_is_a_float32_tensor_where_lax_keeps_it_weak(compiled):
    got = _while(lambda c: c + 1.0, 0.0, compiled)
    lax_got = jax.lax.while_loop(lambda c: c < 3, lambda c: c + 1.0, 0.0)
    assert float(got) == float(lax_got) == 3.0
    assert _kind(got) == ("float32", False)  # TF: tf.while_loop(..., [0.0]) is float32
    assert _kind(lax_got) == ("float32", True)  # lax keeps the weak Python scalar
    scanned = _scan(lambda c, x: c + x, 0.0, jnp.arange(3, dtype=jnp.float32), compiled)
    np.testing.assert_array_equal(scanned, np.cumsum(np.arange(3, dtype=np.float32)))
    assert _kind(scanned) == ("float32", False)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "traced"])
def test_a_python_float_carry_keeps_float32_where_lax_promotes_it_to_the_body(compiled):
    one = jnp.ones((), BF16)
    got = _while(lambda c: c + one, 0.0, compiled)
    lax_got = jax.lax.while_loop(lambda c: c < 3, lambda c: c + one, 0.0)
    assert float(got) == float(lax_got) == 3.0
    assert _kind(got) == ("float32", False)
    assert str(lax_got.dtype) == "bfloat16"  # the weak carry took the body's dtype
    elems = jnp.ones(3, BF16)
    scanned = _scan(lambda c, x: c + x, 0.0, elems, compiled)
    _, lax_scanned = jax.lax.scan(lambda c, x: (c + x, c + x), 0.0, elems)
    np.testing.assert_array_equal(scanned, [1.0, 2.0, 3.0])
    assert str(scanned.dtype) == "float32" and str(lax_scanned.dtype) == "bfloat16"


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "traced"])
def test_a_python_int_carry_is_an_int32_tensor(compiled):
    got = _while(lambda c: c + 1, 0, compiled)
    assert int(got) == 3 and _kind(got) == ("int32", False)
    scanned = _scan(lambda c, x: c + x, 0, jnp.arange(4, dtype=jnp.int32), compiled)
    np.testing.assert_array_equal(scanned, np.cumsum(np.arange(4)))
    assert _kind(scanned) == ("int32", False)


def test_python_branch_outputs_of_cond_are_float32_tensors():
    assert _kind(xf.cond(True, lambda: 1.0, lambda: 2.0)) == ("float32", False)
    traced = jax.jit(lambda p: xf.cond(p, lambda: 1.0, lambda: 2.0))(False)
    assert float(traced) == 2.0 and _kind(traced) == ("float32", False)
