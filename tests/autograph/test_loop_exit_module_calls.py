"""A loop exit whose test calls an array function through its module (`jnp.abs(v) > t`,
`tf.reduce_any(...)`) joins the loop's test as one with operators does (pyct/purity.py).

Oracle: the original function run by Python on NumPy values over hypothesis inputs; the
structural tests count the carries of the traced lax.while_loop against the hand-written
loop (fewer carries: no break or return flag). Calls that may print, call back or take
functions, and names the function or a closure binds, keep the flag (and stay correct).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from jax import lax

import xlaflow as tf
import xlaflow as xf
import xlaflow.random as xf_random
from tests.autograph.test_for_return_exits import check, scalars, vectors
from tests.autograph.test_loop_exits import carries
from xlaflow.autograph.pyct import parsing, purity


def first_large(x, t):
    for v in x:
        if jnp.abs(v) > t:
            return v
    return -1.0


def sum_until_large(x, t):
    total = 0.0
    for v in x:
        if jnp.abs(v) > t:
            break
        total += v
    return total


def first_reduce_any(x, t):
    for i, v in enumerate(x):
        if tf.reduce_any(tf.reshape(v, (1,)) > t):
            return i
    return -1


def search(x, t):
    i = 0
    while i < x.shape[0]:
        if jnp.maximum(x[i], -x[i]) > t:
            return i
        i += 1
    return -1


def halve_until(r, n, tol):
    for _ in range(n):
        if jnp.abs(r) < tol:
            break
        r = r * 0.5
    return r


def keyword_arguments(x, t):
    for v in x:
        if jnp.clip(v, min=-t, max=t) == t:
            return v
    return 0.0


@settings(max_examples=30, deadline=None)
@given(vectors, scalars)
def test_module_calls_in_exits_agree_with_python(x, t):
    for fn in (first_large, sum_until_large, first_reduce_any, search, keyword_arguments):
        check(fn, x, t)


@settings(max_examples=20, deadline=None)
# n: none, one or a few halvings, enough to converge from any drawn r (each n a compile
# of the Python-count program below)
@given(scalars, hs.sampled_from([0, 1, 3, 12, 40]), hs.floats(2.0 ** -10, 10, width=32).map(np.float32))
def test_a_convergence_loop_agrees_with_python(r, n, tol):
    check(halve_until, r, np.int32(n), tol)
    # a Python count: Python iterates the range and the stop test runs before each element
    got = _python_count(jnp.float32(r), n, jnp.float32(tol))
    assert float(got) == float(halve_until(r, n, tol))


_python_count = jax.jit(xf.autograph.to_graph(halve_until), static_argnums=1)


def hand_first_above(x, t):
    def cond(i):
        return jnp.logical_and(i < x.shape[0], jnp.logical_not(jnp.abs(x[i]) > t))

    i = lax.while_loop(cond, lambda i: i + 1, 0)
    return jnp.where(i < x.shape[0], x[jnp.minimum(i, x.shape[0] - 1)], -1.0)


def hand_halve(r, n, tol):
    def cond(carry):
        i, r = carry
        return jnp.logical_and(i < n, jnp.logical_not(jnp.abs(r) < tol))

    return lax.while_loop(cond, lambda c: (c[0] + 1, c[1] * 0.5), (0, r))[1]


def test_the_loops_carry_what_the_hand_written_loops_carry():
    x, t = jnp.arange(-3.0, 5.0), jnp.float32(2.5)
    assert carries(first_large, x, t) == carries(hand_first_above, x, t)
    assert carries(first_large, x, t) == [1]
    args = (jnp.float32(100.0), jnp.int32(50), jnp.float32(1.0))
    assert carries(halve_until, *args) == carries(hand_halve, *args)
    assert carries(search, x, t) == [1]


# -- calls that are not taken for pure keep the flag -------------------------------------

def printing(x, t):
    for v in x:
        if tf.print(v) is None and v > t:  # xf.print runs at run time: not pure
            return v
    return -1.0


def called_back(x, t):
    for v in x:
        if lax.cond(v > t, _yes, _no):  # takes functions, which may do anything
            return v
    return -1.0


def _yes():
    return True


def _no():
    return False


def jnp_rebound(x, t, jnp=jnp):  # a parameter, not the module global
    for v in x:
        if jnp.abs(v) > t:
            return v
    return -1.0


def _closure_named_jnp():
    jnp = jax.numpy  # the closure's: a code object's closures may bind it to anything

    def fn(x, t):
        for v in x:
            if jnp.abs(v) > t:
                return v
        return -1.0

    return fn


def user_function(x, t):
    for v in x:
        if _magnitude(v) > t:
            return v
    return -1.0


def _magnitude(v):
    return jnp.abs(v)


@pytest.mark.parametrize("fn", [printing, called_back, jnp_rebound, _closure_named_jnp(),
                                user_function])
def test_other_calls_keep_the_flag_and_agree_with_python(fn, capfd):
    x, t = jnp.arange(-3.0, 5.0), jnp.float32(2.5)
    assert carries(fn, x, t) == [3]  # index, flag, returned value
    got = jax.jit(xf.autograph.to_graph(fn))(x, t)
    assert float(got) == float(fn(np.asarray(x), np.float32(2.5)))


def test_pure_calls_resolve_module_functions_only():
    def fn(x):
        return (jnp.linalg.norm(x), tf.reduce_any(x), math.sqrt(2.0), jax.random.normal(x),
                tf.print(x), jnp.load(x), lax.cond(x, x, x), xf_random.next_key(x),
                np.random.rand(x), tf.Variable(x), jax.debug.print(x), jnp.vectorize(x),
                lax.scan(x, x, x), missing.thing(x), x.sum())  # noqa: F821

    node = parsing.parse_function(fn)
    found = purity.pure_calls(node, fn.__globals__, fn.__code__.co_freevars)
    assert found == {"jnp.linalg.norm", "tf.reduce_any", "math.sqrt", "jax.random.normal"}
    # a global of the same name in the closure is not resolved
    assert purity.pure_calls(node, fn.__globals__, ("jnp",)) == {
        "tf.reduce_any", "math.sqrt", "jax.random.normal"}


def test_to_graph_of_converted_code_is_that_code():
    once = xf.autograph.to_graph(first_large)
    assert xf.autograph.to_graph(once) is once
    x = jnp.arange(-3.0, 5.0)
    assert float(once(x, 2.5)) == -3.0  # |-3| > 2.5 first


# -- xlaflow's own array modules (linalg, array_ops, math, nn_ops) ------------------------

def halve_until_small(r, n, tol):
    for _ in range(n):
        if xf.linalg.norm(r) < tol:
            break
        r = r * 0.5
    return r


def hand_halve_vector(r, n, tol):
    def cond(carry):
        i, r = carry
        return jnp.logical_and(i < n, jnp.logical_not(jnp.linalg.norm(r) < tol))

    return lax.while_loop(cond, lambda c: (c[0] + 1, c[1] * 0.5), (0, r))[1]


def test_a_norm_test_keeps_the_hand_written_carry_count():
    args = (jnp.asarray([30.0, 40.0]), jnp.int32(50), jnp.float32(1.0))
    assert carries(halve_until_small, *args) == carries(hand_halve_vector, *args) == [2]
    # the oracle: Python running the same function on NumPy values
    for n in (0, 3, 50):
        got = xf.function(halve_until_small)(args[0], jnp.int32(n), args[2])
        expect = halve_until_small(np.float32([30.0, 40.0]), n, np.float32(1.0))
        np.testing.assert_allclose(got, expect, rtol=1e-6)


def test_xlaflows_array_modules_are_pure_but_not_calls_taking_functions_or_drawing():
    def fn(x):
        return (xf.linalg.norm(x), tf.math.cumsum(x), tf.math.reduce_std(x), tf.nn.relu(x),
                tf.gather(x, x), tf.nn.dropout(x, 0.5), tf.while_loop(x, x, x),
                tf.cond(x, x, x), tf.map_fn(x, x), tf.vectorized_map(x, x),
                tf.nn.compute_average_loss(x), tf.random.uniform(x))

    node = parsing.parse_function(fn)
    found = purity.pure_calls(node, fn.__globals__, fn.__code__.co_freevars)
    assert found == {"xf.linalg.norm", "tf.math.cumsum", "tf.math.reduce_std", "tf.nn.relu",
                     "tf.gather"}
