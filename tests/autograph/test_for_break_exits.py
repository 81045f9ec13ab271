"""A `for` loop headed by `if c: break` whose `c` reads the loop's target tests `c` on the
next element, as a hand-written lax.while_loop does (converters/loop_exits.py).

Oracle: the original function run by Python on NumPy values, over inputs hypothesis draws
(empty inputs, the first element stopping the loop, a middle one, the last, none). The
structural tests read the traced program: the converted `sum_until` carries its index and
its sum, like the hand-written loop, where the break flag made it three.
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
from tests.autograph.test_for_return_exits import check, scalars, vectors
from tests.autograph.test_loop_exits import carries


def sum_until(x, t):
    total = 0.0
    for v in x:
        if v > t:
            break
        total += v
    return total


def sum_and_last(x, t):
    total = 0.0
    v = -1.0
    for v in x:
        if v > t:
            break
        total += v
    return total, v  # the element stopped on, else the last (-1 for an empty input)


def found_before_break(x, t):
    found, at = -1.0, -1
    for i, v in enumerate(x):
        if v > t:
            found = v * 2.0  # statements before the break run on the element stopped on
            at = i
            break
        found = found + 0.5
    return found, at


def with_else(x, t):
    total = 0.0
    for v in x:
        if v > t:
            total = total - 100.0
            break
        total += v
    else:  # runs only where no element stopped the loop
        total = total * 3.0
    return total


def pair_break(x, y, t):
    total = 0.0
    for a, b in zip(x, y):
        if max(a, b) > t:  # a builtin in the moved test: the tensor max
            total = total + a - b
            break
        total += a * b
    return total


def moving_limit(x, t):
    total, m = 0.0, t
    for v in x:
        if v > m:  # reads `m`, which the rest of the body updates
            break
        total += v
        m = m + 0.5
    return total, m


def not_reading_target(x, t):
    total, hit = 0.0, 0
    v = 0.0
    for v in x:
        if total > t:  # does not read `v`, but `v` is read after the loop
            hit = 1
            break
        total += v
    return total, hit, v


def range_break(n, x, t):
    total = 0.0
    for i in range(n):  # a range with a tensor bound
        if x[i] > t:
            break
        total += x[i]
    return total, i  # n >= 1 here: `i` is bound


def nested(m, t):
    grand = 0.0
    for row in m:
        row_total = 0.0
        for v in row:
            if v > t:
                break
            row_total += v
        if row_total < -t:  # the outer loop's own moved break (reads the state only)
            break
        grand += row_total
    return grand


def nested_reading_rows(m, t):
    grand = 0.0
    for row in m:
        if row[0] > t:  # the outer test reads the outer target
            grand = grand + 1000.0
            break
        for v in row:
            if v < -t:
                break
            grand += v
    return grand


def _moved(fn):
    return "loop_stop" in xf.autograph.to_code(fn)


# Each side empty (an outer or inner loop that runs zero times), one, or three long: nine
# shapes, each one compile per function.
_sides = hs.sampled_from([0, 1, 3])
matrices = hnp.arrays(np.float32, hs.tuples(_sides, _sides),
                      elements=hs.floats(-20, 20, width=32, allow_nan=False,
                                         allow_subnormal=False))


@settings(max_examples=30, deadline=None)
@given(vectors, scalars)
def test_moved_breaks_agree_with_python(x, t):
    for fn in (sum_until, sum_and_last, found_before_break, with_else, moving_limit,
               not_reading_target):
        check(fn, x, t)
    if x.size:  # the range reads x[i] for i < n, and `i` after it: at least one element
        for n in (1, x.size):
            check(range_break, np.int32(n), x, t)


@settings(max_examples=20, deadline=None)
@given(vectors, scalars, hs.data())
def test_zip_of_tensors_agrees_with_python(x, t, data):
    y = data.draw(hnp.arrays(np.float32, x.shape, elements=hs.floats(
        -20, 20, width=32, allow_nan=False, allow_subnormal=False)))
    check(pair_break, x, y, t)


@settings(max_examples=20, deadline=None)
@given(matrices, scalars)
def test_nested_loops_agree_with_python(m, t):
    check(nested, m, t)
    if m.shape[1]:  # the outer test reads row[0]
        check(nested_reading_rows, m, t)


@pytest.mark.parametrize("t", [-100.0, 1.5, 3.5, 100.0])  # first, middle, last, none
def test_the_element_it_stops_on(t):
    x = np.float32([1.0, 2.0, 3.0, 4.0])
    for fn in (sum_until, sum_and_last, found_before_break, with_else, moving_limit,
               not_reading_target, pair_break, nested, nested_reading_rows):
        assert _moved(fn), fn.__name__
    for fn in (sum_until, sum_and_last, found_before_break, with_else):
        check(fn, x, np.float32(t))
    check(pair_break, x, x[::-1].copy(), np.float32(t))
    check(range_break, np.int32(4), x, np.float32(t))


def test_the_target_of_an_empty_loop_stays_as_it_was():
    empty = np.zeros((0,), np.float32)
    for fn in (sum_until, sum_and_last, found_before_break, with_else):
        check(fn, empty, np.float32(0.0))


def hand(x, t):
    def cond(c):
        i, _ = c
        return (i < x.shape[0]) & ~(x[jnp.minimum(i, x.shape[0] - 1)] > t)

    return lax.while_loop(cond, lambda c: (c[0] + 1, c[1] + x[c[0]]),
                          (0, jnp.float32(0.0)))[1]


def test_sum_until_carries_what_the_hand_written_loop_carries():
    x, t = jnp.arange(16.0), jnp.float32(9.0)
    assert carries(hand, x, t) == [2]
    assert carries(sum_until, x, t) == [2]  # the index and the sum: no break flag
    # the element it stopped on is read after the loop: it is carried
    assert carries(sum_and_last, x, t) == [3]
    got = jax.jit(xf.autograph.to_graph(sum_until))(x, t)
    assert float(got) == float(hand(x, t)) == sum(range(10))


def test_an_unread_target_adds_no_branch_after_the_loop():
    # nothing before the break and the target unread: no lax.cond binding it
    jaxpr = jax.make_jaxpr(xf.autograph.to_graph(sum_until))(jnp.arange(4.0),
                                                            jnp.float32(1.0))
    assert [e.primitive.name for e in jaxpr.jaxpr.eqns if e.primitive.name in (
        "cond", "while", "scan")] == ["while"]


def test_python_lists_run_the_loop_as_written():
    x = [1.0, 5.0, 2.0]
    for fn in (sum_until, sum_and_last, found_before_break, with_else, moving_limit,
               not_reading_target):
        for t in (0.0, 3.0, 9.0):
            assert xf.autograph.to_graph(fn)(x, t) == fn(x, t), (fn.__name__, t)
    # a Python list with a traced test: unrolled, its break a flag under a tensor `if`
    rows = [jnp.float32(1.0), jnp.float32(5.0), jnp.float32(2.0)]
    for fn in (sum_until, with_else):
        for t in (0.0, 3.0, 9.0):
            got = jax.jit(xf.autograph.to_graph(fn))(rows, jnp.float32(t))
            assert float(got) == float(fn([float(r) for r in rows], t))


def test_breaks_that_cannot_move_keep_their_flags():
    calls = []

    def above(v, t):
        calls.append(v)
        return v > t

    def impure(x, t):
        total = 0.0
        for v in x:
            if above(v, t):  # a user call may have effects: tested only as written
                break
            total += v
        return total

    def second_break(x, t):
        total = 0.0
        for v in x:
            if v > t:
                break
            if v < -t:
                break  # a second exit later in the body
            total += v
        return total

    def return_later(x, t):
        total = 0.0
        for v in x:
            if v > t:
                break
            if v < -t:
                return -1.0  # a return in the body: its flag may end the loop too
            total += v
        return total

    def created_read_after(x, t):
        total = 0.0
        for v in x:
            if v > t:
                break
            last = v * 2.0  # first assigned in the loop and read after it
            total += last
        return total + last

    kept = (impure, second_break, return_later, created_read_after)
    for fn in kept:
        assert not _moved(fn), fn.__name__
    x = np.float32([1.0, -6.0, 3.0, 4.0])
    for t in (-9.0, 0.5, 2.5, 5.0, 9.0):
        for fn in kept:
            if fn is not created_read_after:
                check(fn, x, np.float32(t))
            elif t >= 1.0:  # stopped on the first element: `last` unbound in Python too
                # `last` unbound on the traced path that stops early: a limitation of any
                # traced loop, so that one runs in Python (NumPy inputs)
                assert xf.autograph.to_graph(fn)(x, t) == fn(x, t)
    assert calls  # the traced test was called as written


def test_a_non_scalar_test_names_the_if():
    def rows_until(x, t):
        total = x[0]
        for row in x:
            if row > t:  # a row, not a scalar: no truth value
                break
            total = total + row
        return total

    assert _moved(rows_until)
    with pytest.raises(Exception, match="`if`"):
        xf.function(rows_until)(jnp.ones((3, 2)), jnp.float32(0.5))


def test_the_target_of_a_loop_that_never_ran_is_unbound():
    def read_after(x, t):
        for v in x:
            if v > t:
                break
        return v  # Python: unbound for an empty input

    assert _moved(read_after)
    x = np.float32([1.0, 2.0, 3.0])
    for t in (0.0, 1.5, 9.0):  # stopped on the first element (the body never ran), later, never
        check(read_after, x, np.float32(t))
    with pytest.raises(Exception, match="'v'"):
        xf.function(read_after)(jnp.zeros((0,)), jnp.float32(0.0))
