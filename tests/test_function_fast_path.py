"""xf.function's call fast path on a program without Variables: a later trace of the same
arity (new shapes, inside JAX's own cache) can add run-time checks or reach Variables."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def test_a_later_trace_that_adds_an_assert_raises_on_the_fast_path():
    @xf.function
    def f(x):
        if x.shape[0] > 2:  # a Python condition: only the 3-element trace has the check
            assert jnp.all(x > 0), "x must be positive"
        return x + 1

    np.testing.assert_allclose(f(-jnp.ones(2)), 0.0)
    np.testing.assert_allclose(f(-jnp.ones(2)), 0.0)
    entry = f._fast_entries[1]
    assert entry.direct is not None and not entry.check_tokens  # the direct fast path
    # Same arity, new shape: JAX traces again inside the fast path's call; the check that
    # trace adds must fail this call, and every later one with a bad value.
    with pytest.raises(AssertionError, match="x must be positive"):
        f(-jnp.ones(3))
    with pytest.raises(AssertionError, match="x must be positive"):
        f(-jnp.ones(3))
    np.testing.assert_allclose(f(jnp.ones(3)), 2.0)
    np.testing.assert_allclose(f(-jnp.ones(2)), 0.0)  # the unchecked shape stays unchecked


def test_a_later_trace_that_reaches_a_new_variable_lifts_it():
    box = []  # empty at the first trace: no guess can foresee the Variable

    @xf.function
    def f(x):
        if x.shape[0] > 2:
            box[0].assign_add(jnp.sum(x))
            return x + box[0].value
        return x + 1

    np.testing.assert_allclose(f(jnp.ones(2)), 2.0)
    np.testing.assert_allclose(f(jnp.ones(2)), 2.0)
    assert f._fast_entries[1].direct is not None  # the direct fast path
    box.append(xf.Variable(10.0, name="late"))
    np.testing.assert_allclose(f(jnp.ones(3)), 14.0)  # 10 + 3, then x + 13
    np.testing.assert_allclose(f(jnp.ones(3)), 17.0)
    assert float(box[0].numpy()) == 16.0  # both assignments persisted
    assert f.tracing_count == 2  # the second call found the program that lifts it
    np.testing.assert_allclose(f(jnp.ones(2)), 2.0)
    assert float(box[0].numpy()) == 16.0
    assert f.tracing_count == 3  # 2 elements again, in the program that lifts it
