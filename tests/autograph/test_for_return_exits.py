"""A `for` loop headed by `if c: return e` tests `c` on the next element, as a hand-written
lax.while_loop does, and returns `e` after the loop (converters/loop_exits.py).

Oracle: the original function run by Python on NumPy values, over inputs hypothesis draws
(empty inputs, the first element triggering, the last, none). The structural tests read
the traced program: the converted search loop carries only its index, like the
hand-written one.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp
from jax import lax

import xlaflow as xf
from tests.autograph.conftest import _compare, _python
from tests.autograph.test_loop_exits import carries


def first_above(x, t):
    for i, v in enumerate(x):
        if v > t:
            return i
    return -1


def first_above_row(x, t):
    for v in x:
        if v > t:
            return v
    return 0.0


def total_before(x, t):
    total = 0.0
    m = t
    for v in x:
        if v > m:  # reads `m`, which the rest of the body updates
            return total + v
        total += v
        m = m + 0.5
    return total - 1.0


def pair_gap(x, y, t):
    for a, b in zip(x, y):
        if max(a, b) > t:  # a builtin in the moved test: the tensor max
            gap = a - b  # statements before the return move with it
            return gap * 2.0
    return 0.0


def scaled_by_closure(x, t):
    total = 0.0
    for v in x:
        if v > t:
            return (lambda: v * 3.0 + total)()  # reads the element stopped on
        double = lambda: v * 2.0  # noqa: B023 - a closure the rest of the body makes
        total += double()
    return total


def last_or_found(x, t):
    v = -1.0
    for v in x:
        if v > t:
            return v * 2.0
    return v  # the last element, or -1 for an empty input


def below_count(n, x, t):
    for i in range(n):  # a range with a tensor bound
        if x[i] > t:
            return i * 10
    return -1


_compiled = {}


def check(fn, *args):
    """The compiled function (arguments traced) equals plain Python on NumPy values."""
    # traced once per input shape (xf.function would warn of retracing across examples)
    compiled = _compiled.setdefault(fn, jax.jit(xf.autograph.to_graph(fn)))
    _compare(compiled(*[jnp.asarray(a) for a in args]), fn(*[_python(a) for a in args]))


# A few lengths, each one compile per function (here and in the files that import these):
# empty (the loop runs zero times), one element (first is last), a short and a long vector.
vectors = hnp.arrays(np.float32, hs.sampled_from([0, 1, 3, 7]), elements=hs.floats(
    -20, 20, width=32, allow_nan=False, allow_subnormal=False))
scalars = hs.floats(-30, 30, width=32, allow_nan=False, allow_subnormal=False).map(np.float32)


@settings(max_examples=30, deadline=None)
@given(vectors, scalars)
def test_moved_returns_agree_with_python(x, t):
    for fn in (first_above, first_above_row, total_before, scaled_by_closure, last_or_found):
        check(fn, x, t)
    if x.size:  # the range reads x[i] for i < n: at least one element
        for n in (0, 1, x.size):
            check(below_count, np.int32(n), x, t)


@settings(max_examples=20, deadline=None)
@given(vectors, scalars, hs.data())
def test_zip_of_tensors_agrees_with_python(x, t, data):
    y = data.draw(hnp.arrays(np.float32, x.shape, elements=hs.floats(
        -20, 20, width=32, allow_nan=False, allow_subnormal=False)))
    check(pair_gap, x, y, t)


@pytest.mark.parametrize("t", [-100.0, 1.5, 3.5, 100.0])  # first, middle, last, none
def test_the_element_it_stops_on(t):
    x = np.float32([1.0, 2.0, 3.0, 4.0])
    for fn in (first_above, first_above_row, total_before, scaled_by_closure, pair_gap):
        assert "loop_stop" in xf.autograph.to_code(fn)
    for fn in (first_above, first_above_row, total_before, scaled_by_closure):
        check(fn, x, np.float32(t))
    check(pair_gap, x, x[::-1].copy(), np.float32(t))


def hand(x, t):
    i = lax.while_loop(lambda i: (i < x.shape[0]) & ~(x[i] > t), lambda i: i + 1, 0)
    return jnp.where(i < x.shape[0], i, -1)


def test_the_search_loops_carry_only_their_index():
    x, t = jnp.arange(16.0), jnp.float32(9.0)
    assert carries(hand, x, t) == [1]
    assert carries(first_above, x, t) == [1]
    assert carries(first_above_row, x, t) == [1]
    assert carries(below_count, jnp.int32(16), x, t) == [1]
    assert int(jax.jit(xf.autograph.to_graph(first_above))(x, t)) == 10


def test_python_lists_run_the_loop_as_written():
    x = [1.0, 5.0, 2.0]
    for fn in (first_above, first_above_row, total_before, scaled_by_closure):
        for t in (0.0, 3.0, 9.0):
            assert xf.autograph.to_graph(fn)(x, t) == fn(x, t)
    # a Python list with a traced test: unrolled, its return a flag under a tensor `if`
    rows = [jnp.float32(1.0), jnp.float32(5.0), jnp.float32(2.0)]
    for fn in (first_above, first_above_row):
        for t in (0.0, 3.0, 9.0):
            got = jax.jit(xf.autograph.to_graph(fn))(rows, jnp.float32(t))
            assert float(got) == float(fn([float(r) for r in rows], t))


def test_the_target_after_an_unrolled_loop_is_the_element_it_stopped_on():
    def last_bound(x, t):
        seen = []
        for v in x:
            if v > t:
                seen.append(lambda: v)  # noqa: B023 - read after the loop has stopped
                return seen
            seen.append(lambda: v)  # noqa: B023
        return seen

    for t in (0.0, 1.5, 9.0):
        expect = [g() for g in last_bound([1.0, 2.0, 3.0], t)]
        assert [g() for g in xf.autograph.to_graph(last_bound)([1.0, 2.0, 3.0], t)] == expect


def _kept(fn):
    return "loop_stop" not in xf.autograph.to_code(fn)


def test_exits_that_cannot_move_keep_their_flags():
    calls = []

    def above(v, t):
        calls.append(v)
        return v > t

    def impure(x, t):
        for v in x:
            if above(v, t):  # a user call may have effects: tested only as written
                return v
        return 0.0

    def created_inside(x, t):
        last = 0.0
        for k, v in enumerate(x):
            if k > 0 and step > t:  # noqa: F821 - `step` exists from the 2nd iteration
                return k
            step = v - last  # noqa: F841 - read by the next iteration's test
            last = v
        return -1

    def second_return(x, t):
        for v in x:
            if v > t:
                return v
            if v < -t:
                return -v  # a second exit later in the body
        return 0.0

    def created_read_after(x, t):
        total = 0.0
        for v in x:
            if v > t:
                return total
            last = v * 2.0  # first assigned in the loop and read after it
            total += last
        return total + last

    kept = (impure, created_inside, second_return, created_read_after)
    for fn in kept:
        assert _kept(fn), fn.__name__
    x = np.float32([1.0, -6.0, 3.0, 4.0])
    for t in (-9.0, 0.5, 2.5, 5.0, 9.0):
        for fn in kept:
            # `step` read under a traced `and` before it exists: a limitation of any
            # traced loop, so that one runs in Python (NumPy inputs)
            if fn is created_inside:
                assert fn(x, t) == xf.autograph.to_graph(fn)(x, t)
            else:
                check(fn, x, np.float32(t))
    assert calls  # the traced test was called as written


def test_an_impure_test_runs_as_often_as_python_runs_it():
    seen = []

    def above(v, t):
        seen.append(float(v))
        return v > t

    def impure(x, t):
        for v in x:
            if above(v, t):
                return v
        return 0.0

    assert xf.autograph.to_graph(impure)([1.0, 5.0, 2.0], 3.0) == 5.0
    assert seen == [1.0, 5.0]


def test_a_non_scalar_test_names_the_if():
    def rows_above(x, t):
        for row in x:
            if row > t:  # a row, not a scalar: no truth value
                return row
        return x[0]

    with pytest.raises(Exception, match="`if`"):
        xf.function(rows_above)(jnp.ones((3, 2)), jnp.float32(0.5))


def test_the_target_read_after_the_loop_is_carried():
    def read_after(x, t):
        for v in x:
            if v > t:
                return 1.0
        return v  # the last element: the target as the loop left it

    assert "loop_stop" in xf.autograph.to_code(read_after)
    x = np.float32([1.0, 2.0, 3.0])
    for t in (0.0, 1.5, 9.0):  # stopped on the first element (the body never ran), later, never
        check(read_after, x, np.float32(t))
    with pytest.raises(Exception, match="'v'"):
        xf.function(read_after)(jnp.zeros((0,)), jnp.float32(0.0))  # Python: unbound


def with_else(x, t):
    for v in x:
        if v > t:
            return v
    else:  # noqa: PLW0120 - runs when no element returned, then falls through
        t = t * 2.0
    return t


@pytest.mark.parametrize("t", [-9.0, 2.5, 9.0])
def test_a_loop_else_runs_only_when_no_element_returned(t):
    # the moved return: after the loop, `if stopped: return v` else the `else` clause
    assert "loop_stop" in xf.autograph.to_code(with_else)
    x = np.float32([1.0, -6.0, 3.0, 4.0])
    got = xf.function(with_else)(jnp.asarray(x), jnp.float32(t))
    assert float(got) == with_else(x, np.float32(t))
