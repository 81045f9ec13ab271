"""Edge cases of the Python `range` loop a tensor may stop (one lax loop for the rest of
the range) and of the trailing `return e` select, found by review.

Oracle: the same function run as plain Python on NumPy values, and jax.grad of the same
function run as plain Python (a Python loop over concrete values, differentiated by JAX).
"""

import jax
import jax.numpy as jnp
import numpy as np

import xlaflow as xf


def scaled_by_stop(x, t):
    for i in range(x.shape[0]):
        if x[i] > t:
            break
    return x * i  # `i` is a Python int: an int8 array stays int8


def test_a_python_range_counter_stays_weakly_typed_after_a_tensor_break():
    x = np.int8([1, 2, 3, 9, 4])
    for t in (4, 100):
        expect = scaled_by_stop(x, np.int8(t))
        got = xf.function(scaled_by_stop)(jnp.asarray(x), jnp.int8(t))
        assert got.dtype == expect.dtype == np.int8
        np.testing.assert_array_equal(np.asarray(got), expect)
