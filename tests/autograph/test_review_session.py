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


def scaled_search(w, x, t):
    acc = 0.0
    for i in range(x.shape[0]):
        acc = acc + w * x[i]
        if acc > t:
            return acc * acc
    return acc * 3.0


def hand_written_search(w, x, t):
    """The same search as a lax.scan that stops updating once it has returned."""
    def step(carry, xi):
        acc, done, ret = carry
        new = acc + w * xi
        hit = jnp.logical_and(jnp.logical_not(done), new > t)
        return (jnp.where(done, acc, new), jnp.logical_or(done, hit),
                jnp.where(hit, new * new, ret)), None

    (acc, done, ret), _ = jax.lax.scan(step, (jnp.float32(0), False, jnp.float32(0)), x)
    return jnp.where(done, ret, acc * 3.0)


def test_gradient_through_an_early_exit_range_loop_and_its_trailing_return():
    # Reverse mode cannot go through a lax.while_loop; the loop must stay differentiable.
    x = jnp.float32([1, 2, 3, 4, 5, 6])
    compiled = xf.function(scaled_search)
    for w in (0.5, 1.0):
        for t in (2.5, 7.0, 100.0):
            args = (jnp.float32(w), x, jnp.float32(t))
            expect = jax.grad(scaled_search)(*args)  # plain Python: JAX differentiates it
            np.testing.assert_allclose(jax.grad(compiled)(*args), expect, rtol=1e-6)
            np.testing.assert_allclose(jax.grad(hand_written_search)(*args), expect,
                                       rtol=1e-6)
            np.testing.assert_allclose(compiled(*args), scaled_search(*args), rtol=1e-6)


def test_gradient_tape_through_an_early_exit_range_loop():
    x = jnp.float32([1, 2, 3, 4, 5, 6])
    v = xf.Variable(0.5)

    @xf.function
    def step():
        with xf.GradientTape() as tape:
            out = scaled_search(v, x, jnp.float32(7.0))
        return tape.gradient(out, v)

    np.testing.assert_allclose(step(), jax.grad(scaled_search)(0.5, x, 7.0), rtol=1e-6)


NAMES = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "ggggggg", "hhhhhhhh"]


def test_a_counter_needed_as_a_python_int_is_tried_as_a_lax_loop_once():
    # The body indexes a Python list with its counter, so the lax attempt fails and the
    # iterations run unrolled. Its Python side effects run once per iteration, as in
    # Python, plus once for the one failed attempt (not once more for every iteration).
    seen = []

    def weighted(x, t):
        out = 0.0
        for i in range(len(NAMES)):
            seen.append(i)
            if x[i] > t:
                break
            out += len(NAMES[i]) * x[i]
        return out

    x = np.float32([1, 2, 1, 3, 2, 1, 2, 9])
    expect = weighted(x, np.float32(8))
    python_runs = len(seen)
    seen.clear()
    np.testing.assert_allclose(xf.function(weighted)(jnp.asarray(x), jnp.float32(8)), expect)
    concrete = [i for i in seen if isinstance(i, int)]
    assert concrete == list(range(len(NAMES))) == list(range(python_runs))
    assert len(seen) - len(concrete) <= 1
