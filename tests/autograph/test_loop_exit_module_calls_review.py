"""Review findings on module calls taken as pure in loop exits (see
test_loop_exit_module_calls.py): calls that resolve to JAX or math yet are not pure,
globals that change what a call resolves to, and probes that agree with Python.

Oracle: the original function run by Python (results and call counts).
"""

import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from jax import lax

import xlaflow as xf
from tests.autograph.test_for_return_exits import check, scalars, vectors
from xlaflow.autograph.pyct import parsing, purity

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
