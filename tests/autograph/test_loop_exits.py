"""An exit heading a loop body (`if c: break` / `if c: return e`) joins the loop's test.

Oracle: the original function run by Python on NumPy values (`agree`), over inputs that
hypothesis draws (zero-iteration loops, exits on the first and last element, none). The
structural tests read the traced program: the hoisted exit leaves no flag carry behind.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

import xlaflow as xf
from tests.autograph.conftest import _compare, _python


def search(x, target):
    i = 0
    while i < x.shape[0]:
        if x[i] > target:
            return i
        i += 1
    return -1


def search_twice_scaled(x, target):
    i = 0
    while i < len(x):
        if x[i] > target:
            found = i * 10  # statements before the return move after the loop with it
            return found + 1
        i += 1
    return -1


def first_break(x, target):
    i = 0
    while i < x.shape[0]:
        if x[i] > target:
            break
        i += 1
    else:
        i = -1  # runs only when no element was above the target
    return i


def until_above(x, limit):
    total = 0.0
    for v in x:
        if total > limit:
            break
        total += v
    return total


def nested_break(x, limit):
    total = 0.0
    for row in x:
        for v in row:
            if total > limit:
                break
            total += v
        total = total * 0.5
    return total


def forever(x, limit):
    i = 0
    total = 0.0
    while True:
        if total > limit or i >= x.shape[0]:
            return total, i
        total += x[i]
        i += 1


_compiled = {}


def check(fn, *args):
    """The compiled function (arguments traced) equals plain Python on NumPy values."""
    # one xf.function per Python function: traced and compiled once per input shape, that
    # program is then checked on every example of the shape
    compiled = _compiled.setdefault(fn, xf.function(fn))
    _compare(compiled(*[jnp.asarray(a) for a in args]), fn(*[_python(a) for a in args]))


# A few lengths, each one compile per function (xf.function warns past 5 traces): empty
# (the loop runs zero times), one element (first is last), a short and a long vector.
vectors = hnp.arrays(np.float32, hs.sampled_from([0, 1, 3, 9]), elements=hs.floats(
    -20, 20, width=32, allow_nan=False, allow_subnormal=False))
scalars = hs.floats(-30, 30, width=32, allow_nan=False, allow_subnormal=False).map(np.float32)


@settings(max_examples=30, deadline=None)
@given(vectors, scalars)
def test_hoisted_exits_agree_with_python(x, target):
    for fn in (search, search_twice_scaled, first_break, until_above):
        check(fn, x, target)
    if x.size:  # `forever` reads x[0] before its test could stop it
        check(forever, x, target)


@settings(max_examples=20, deadline=None)
# On a 1e-3 grid: XLA on CPU flushes subnormals to zero (NumPy does not), and scaling the
# smallest normal floats makes one
@given(hnp.arrays(np.float32, (3, 4), elements=hs.floats(-5, 5, width=32).map(
           lambda v: np.float32(round(float(v), 3)))),
       hs.floats(-3, 8, width=32, allow_subnormal=False).map(np.float32))
def test_nested_break_agrees_with_python(x, limit):
    check(nested_break, x, limit)


def carries(fn, *args):
    """Carry count of each lax.while_loop in the traced program, outermost first."""
    found = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "while":
                found.append(len(eqn.params["body_jaxpr"].jaxpr.outvars))
            for param in eqn.params.values():
                for sub in param if isinstance(param, (tuple, list)) else [param]:
                    sub = getattr(sub, "jaxpr", sub)
                    if hasattr(sub, "eqns"):
                        walk(sub)

    walk(jax.make_jaxpr(xf.autograph.to_graph(fn))(*args).jaxpr)
    return found


def test_a_leading_return_leaves_only_the_counter_in_the_loop():
    assert carries(search, jnp.arange(8.0), jnp.float32(3.0)) == [1]
    assert "set_state, ('i',), 1," in xf.autograph.to_code(search)


def test_a_leading_break_becomes_the_for_loops_extra_test():
    # the scan's index and the total; no break flag
    assert carries(until_above, jnp.arange(8.0), jnp.float32(3.0)) == [2]
    assert "break_" not in xf.autograph.to_code(until_above)
    assert carries(nested_break, jnp.ones((3, 4)), jnp.float32(3.0)) == [2]


def test_the_loop_test_runs_first_in_python():
    # Python values: `x[i]` is never read past the end (it would raise IndexError)
    x = np.float32([1.0, 2.0])
    assert search(x, 5.0) == xf.autograph.to_graph(search)(x, 5.0) == -1
    assert xf.autograph.to_graph(search_twice_scaled)([1.0, 7.0], 5.0) == 11


def test_a_test_with_a_call_keeps_its_flag():
    calls = []

    def above(v, target):
        calls.append(v)
        return v > target

    def with_call(x, target):
        i = 0
        while i < x.shape[0]:
            if above(x[i], target):  # a user call may have effects: not moved
                break
            i += 1
        return i

    assert "break_" in xf.autograph.to_code(with_call)
    assert int(xf.function(with_call)(jnp.arange(6.0), jnp.float32(2.5))) == 3


def test_a_name_the_loop_creates_keeps_its_flag():
    def created_inside(x):
        i = 0
        while i < x.shape[0]:
            if i > 0 and last > 2.0:  # noqa: F821 - `last` exists from the 2nd iteration
                break
            last = x[i]  # noqa: F841 - read by the next iteration's test
            i += 1
        return i

    assert "break_" in xf.autograph.to_code(created_inside)
    assert created_inside(np.arange(6.0)) == 4
    assert xf.autograph.to_graph(created_inside)(np.arange(6.0)) == 4


@pytest.mark.parametrize("limit", [-1.0, 2.5, 99.0])
def test_a_target_read_after_the_loop_is_the_element_it_stopped_on(agree, limit):
    def last_seen(x, limit):
        total = 0.0
        v = 0.0
        for v in x:
            if total > limit:
                break  # v is the element it stopped on: bound before the test
            total += v
        return total, v

    # the candidate-element path (test_for_break_exits.py), which binds v after the loop
    assert "loop_stop" in xf.autograph.to_code(last_seen)
    agree(last_seen, np.float32([1, 2, 3, 4]), np.float32(limit))


def test_a_second_break_keeps_the_return_flag_correct(agree):
    def two_exits(x, target):
        i = 0
        while i < x.shape[0]:
            if x[i] > target:
                return i
            if x[i] < -target:
                break  # leaves with the loop test still true: not the first exit
            i += 1
        return -1

    assert "('return:retval_', 'do_return', 'break_', 'i'), 4" in \
        xf.autograph.to_code(two_exits)
    for target in (2.5, 10.0, 0.5):
        agree(two_exits, np.float32([1, -2, 3, 4]), np.float32(target))


def test_a_tensor_exit_of_a_python_range(agree):
    def counted(x, target):
        total = 0.0
        for _ in range(5):  # a Python range that the traced exit test stops
            if total > target:
                break
            total += x[0]
        return total

    assert "break_" not in xf.autograph.to_code(counted)
    for target in (-1.0, 2.5, 9.0):
        agree(counted, np.float32([1.5, 0.0]), np.float32(target))
