"""A loop exit whose test calls an array function through its module (`jnp.abs(v) > t`,
`tf.reduce_any(...)`) joins the loop's test as one with operators does (pyct/purity.py).

Oracle: the original function run by Python on NumPy values over hypothesis inputs; the
structural tests count the carries of the traced lax.while_loop against the hand-written
loop (fewer carries: no break or return flag). Calls that may print, call back or take
functions, and names the function or a closure binds, keep the flag (and stay correct).
"""

import math
import types

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
@given(scalars, hs.integers(0, 40), hs.floats(2.0 ** -10, 10, width=32).map(np.float32))
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


# -- review findings: calls that resolve to JAX or math yet are not pure ----------------

def sum_of_iterator(n):
    parts = iter([3.0, 4.0])  # math.fsum consumes it: a second evaluation sees nothing
    i = 0
    while i < n:
        if math.fsum(parts) > 5:
            break
        i += 1
    return i


def product_of_iterator(n):
    parts = iter([3, 4])
    i = 0
    while i < n:
        if math.prod(parts) > 5:
            break
        i += 1
    return i


@pytest.mark.parametrize("fn", [sum_of_iterator, product_of_iterator])
def test_math_functions_that_consume_an_iterator_keep_the_flag(fn):
    expected = fn(4)  # Python: the first test sees both parts and breaks at once
    assert expected == 0
    assert int(jax.jit(xf.autograph.to_graph(fn))(jnp.int32(4))) == expected
    assert int(xf.function(fn)(jnp.int32(4))) == expected


class _Calls:
    """A user function that counts its calls (a Python side effect)."""

    def __init__(self):
        self.count = 0

    def __call__(self, i):
        self.count += 1
        return jnp.zeros_like(i) + self.count


_counted = _Calls()


def calls_user_code_in_the_loop_test(n):
    i = 0
    while jnp.fromfunction(_counted, (1,))[0] < n:  # runs _counted each time it is tested
        if i > 100:
            return -i
        i += 1
    return i


def test_functions_that_call_a_function_argument_keep_the_flag():
    _counted.count = 0
    expected = calls_user_code_in_the_loop_test(4)
    calls = _counted.count
    _counted.count = 0
    got = xf.autograph.to_graph(calls_user_code_in_the_loop_test)(4)
    assert (got, _counted.count) == (expected, calls)  # the test is not run once more
    node = parsing.parse_function(_takes_functions)
    found = purity.pure_calls(node, _takes_functions.__globals__, ())
    assert found == {"jnp.einsum"}  # its one function parameter is private


def _takes_functions(x):
    return (jnp.fromfunction(x, x), lax.reduce_window(x, x, x, x, x, x),
            lax.scatter_apply(x, x, x, x), lax.platform_dependent(x, cpu=x),
            jax.scipy.optimize.minimize(x, x), jax.scipy.sparse.linalg.cg(x, x),
            jax.scipy.sparse.linalg.gmres(x, x), jax.scipy.sparse.linalg.bicgstab(x, x),
            jnp.pad(x, x, mode=x), lax.linalg.schur(x), jnp.einsum(x, x),
            lax.rng_uniform(x, x, x))


class _Logged:
    """Stands in for an array module: its `abs` counts calls (a Python side effect)."""

    def __init__(self):
        self.count = 0

    def abs(self, v):
        self.count += 1
        return np.abs(v)


def index_of_big(x, t):
    k = 0
    while jnp.abs(k) < len(x):  # a pure loop test, tested once more after the loop
        if x[k] > t:
            return k
        k += 1
    return -1


def _counted_run(fn, *args):
    """(result, calls of the module stand-in) of fn(*args)."""
    logged = fn.__globals__["jnp"]
    logged.count = 0
    return fn(*args), logged.count


def test_the_same_code_under_other_globals_is_converted_for_them():
    x = np.array([1.0, 2.0, 5.0, 1.0], np.float32)
    xf.autograph.to_graph(index_of_big)(x, 2.5)  # converted where jnp is the module
    other = types.FunctionType(index_of_big.__code__, {"jnp": _Logged(), "len": len})
    expected = _counted_run(other, x, 2.5)
    assert _counted_run(xf.autograph.to_graph(other), x, 2.5) == expected


def test_a_module_global_rebound_after_conversion_is_seen_at_the_next_conversion():
    x = np.array([1.0, 2.0, 5.0, 1.0], np.float32)
    namespace = {"jnp": jnp, "len": len}
    fn = types.FunctionType(index_of_big.__code__, namespace)
    assert int(xf.autograph.to_graph(fn)(x, 2.5)) == 2
    namespace["jnp"] = _Logged()
    expected = _counted_run(fn, x, 2.5)
    assert _counted_run(xf.autograph.to_graph(fn), x, 2.5) == expected


def test_globals_that_bind_a_builtin_get_code_converted_for_them():
    x = np.array([1.0, 2.0, 5.0, 1.0], np.float32)
    xf.autograph.to_graph(index_of_big)(x, 2.5)  # converted where len is the builtin
    lengths = []

    def logged_len(seq):  # not the builtin: a call the loop test must not repeat
        lengths.append(seq)
        return len(seq)

    other = types.FunctionType(index_of_big.__code__, {"jnp": jnp, "len": logged_len})
    expected = (other(x, 2.5), len(lengths))
    lengths.clear()
    assert (xf.autograph.to_graph(other)(x, 2.5), len(lengths)) == expected


def rebinds_the_module_global(x, t, stand_in):
    def use_stand_in():
        global jnp  # rebinds the module's jnp while the function runs
        jnp = stand_in

    use_stand_in()
    k = 0
    while jnp.abs(k) < len(x):
        if x[k] > t:
            return k
        k += 1
    return -1


def test_a_global_that_a_nested_function_declares_is_not_resolved():
    x = np.array([1.0, 2.0, 5.0, 1.0], np.float32)
    module = globals()
    try:
        expected = _counted_run_with(rebinds_the_module_global, x, 2.5)
        module["jnp"] = jax.numpy
        got = _counted_run_with(xf.autograph.to_graph(rebinds_the_module_global), x, 2.5)
    finally:
        module["jnp"] = jax.numpy
    assert got == expected


def _counted_run_with(fn, x, t):
    stand_in = _Logged()
    return fn(x, t, stand_in), stand_in.count


# -- review probes that agree with Python (kept as regression tests) ---------------------

def break_or_else(x, t):
    total = 0.0
    for v in x:
        if jnp.maximum(v, 0.0) > t:  # statements before the break, and an else
            total = total - 100.0
            break
        total += v
    else:
        total = total + 1000.0
    return total


def while_else(x, t):
    i = 0
    while i < x.shape[0]:
        if jnp.sqrt(jnp.abs(x[i])) > t:
            i = i + 100
            break
        i += 1
    else:
        i = -i
    return i


def zipped(x, t):
    for a, b in zip(x, x * 2.0):
        if jnp.hypot(a, b) > t:
            return a - b
    return 0.0


def lambda_parameter_named_jnp(x, t):
    scale = lambda jnp: jnp * 2.0  # its own scope: the module's jnp below
    for v in x:
        if jnp.abs(v) > t:
            return scale(v)
    return -1.0


def random_stop(x, t):
    key = jax.random.PRNGKey(0)  # a key the loop consumes, read by the moved test
    i = 0
    while i < x.shape[0]:
        if jax.random.uniform(key) * 20.0 < t:
            break
        key, _ = jax.random.split(key)
        i += 1
    return i


@settings(max_examples=30, deadline=None)
@given(vectors, scalars)
def test_review_probes_agree_with_python(x, t):
    for fn in (break_or_else, while_else, zipped, lambda_parameter_named_jnp, random_stop):
        check(fn, x, t)


class _Probe:
    """A number whose conversion to float counts how often a test reads it."""

    def __init__(self, value):
        self.value, self.reads = value, 0

    def __float__(self):
        self.reads += 1
        return self.value


def sum_until_probe(xs, probe, t):
    total = 0.0
    for v in xs:  # a Python list: Python iterates it, the stop test runs per element
        if math.fabs(probe) > t:
            break
        total += v
    return total


@pytest.mark.parametrize("t", [0.5, 5.0])
def test_a_stop_test_on_a_python_list_runs_once_per_element(t):
    xs = [1.0, 2.0, 3.0]
    probe = _Probe(1.0)
    expected = (sum_until_probe(xs, probe, t), probe.reads)
    probe.reads = 0
    # the moved form (the test is the loop's stop test, no break flag) is what runs here
    assert "for_stmt(xs, lambda: ag__.not_(" in xf.autograph.to_code(sum_until_probe)
    assert (xf.autograph.to_graph(sum_until_probe)(xs, probe, t), probe.reads) == expected
