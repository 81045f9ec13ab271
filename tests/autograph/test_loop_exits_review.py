"""Inputs on which hoisting a loop's leading exit (converters/loop_exits.py) once changed
what the program does; each case compares with the plain Python function.

Oracle: the original function run by Python (on NumPy or Python values), and for traced
runs the same function compiled by xf.function on jnp arrays.
"""

import inspect
import re

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import xlaflow as xf


def _calls_on_graph(fn, *args):
    return xf.autograph.to_graph(fn)(*args)


# -- a `for` loop's exit test: converted like any other expression --------------------------

def capped_total(x, limit):
    total = 0.0
    for v in x:
        if max(total, 0.0) > limit:  # `max` of tensors: converted to the tensor max
            break
        total += v
    return total


def truncated_total(x, limit):
    total = 0.0
    for v in x:
        if int(total) > limit:  # `int` of a tensor: a cast
            break
        total += v
    return total


@pytest.mark.parametrize("fn", [capped_total, truncated_total])
@pytest.mark.parametrize("limit", [-1.0, 2.5, 100.0])
def test_builtins_in_a_for_loops_exit_test_are_converted(agree, fn, limit):
    agree(fn, np.float32([1.5, 2.0, 3.0, 4.0]), np.float32(limit))


# -- a `for` loop's target: its value after the loop is the element it stopped on ---------

# At module level: a lambda made by a converted function nested in another is rebuilt from
# the wrong columns (parsing.py dedents the source), which is not what this file tests.
def late(x, limit):
    getters = []
    total = 0.0
    for v in x:
        if total > limit:
            break
        getters.append(lambda: v)  # noqa: B023 - reads `v` when called, after the loop
        total += v
    return [g() for g in getters]


def test_a_closure_made_in_the_body_sees_the_element_it_stopped_on():
    for limit in (0.5, 2.5, 100.0):
        assert _calls_on_graph(late, [1.0, 2.0, 3.0, 4.0], limit) == \
            late([1.0, 2.0, 3.0, 4.0], limit)


def test_a_later_loop_target_read_by_an_earlier_loops_exit_test():
    def two_loops(rows, t):
        s = 0.0
        w = 0.0
        for row in rows:
            for v in row:
                if w > t:  # `w`: where the second loop stopped, one row before
                    break
                s += v
            for w in row:
                if s > 2 * t:
                    break
                s += w
        return s

    rows = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [1.0, 1.0, 1.0]]
    for t in (0.5, 2.5, 7.0):
        assert _calls_on_graph(two_loops, rows, t) == two_loops(rows, t)


def test_a_tuple_target_still_unpacks_the_element_it_stops_on():
    def pairs_total(pairs, limit):
        total = 0
        for a, b in pairs:  # the third element does not unpack: Python raises there
            if total > limit:
                break
            total += a * b
        return total

    pairs = [(1, 2), (3, 4), (5, 6, 7)]
    with pytest.raises(ValueError, match="too many values to unpack"):
        pairs_total(pairs, 10)
    with pytest.raises(ValueError, match="too many values to unpack"):
        _calls_on_graph(pairs_total, pairs, 10)


def test_enumerate_and_zip_targets_are_still_hoisted(agree):
    def weighted(x, y, limit):
        total = 0.0
        for i, v in enumerate(x):
            if total > limit:
                break
            total += v * i
        for a, b in zip(x, y):
            if total > 2 * limit:
                break
            total += a * b
        return total

    assert "break_" not in xf.autograph.to_code(weighted)
    for limit in (-1.0, 2.5, 9.0, 100.0):
        agree(weighted, np.float32([1, 2, 3, 4]), np.float32([1, 1, 2, 2]), np.float32(limit))


# -- a re-evaluated loop test runs no user code ---------------------------------------------

def _counting(calls):
    def count(v):
        calls.append(v)
        return v.shape[0]
    return count


def search_with(x, t, len):  # a parameter shadowing the builtin
    i = 0
    while i < len(x):
        if x[i] > t:
            return i
        i += 1
    return -1


def search_global(x, t):
    i = 0
    while i < len(x):  # the module's `len`, which a test rebinds
        if x[i] > t:
            return i
        i += 1
    return -1


def test_a_parameter_named_like_a_builtin_is_not_the_builtin():
    x = np.float32([1, 2, 3, 4])
    python, graph = [], []
    assert search_with(x, 2.5, _counting(python)) == 2
    assert _calls_on_graph(search_with, x, 2.5, _counting(graph)) == 2
    assert graph == python  # one call per loop test, none after the loop


def test_a_closure_named_like_a_builtin_is_not_the_builtin():
    calls = []
    len = _counting(calls)

    def search(x, t):
        i = 0
        while i < len(x):
            if x[i] > t:
                return i
            i += 1
        return -1

    x = np.float32([1, 2, 3, 4])
    assert search(x, 2.5) == 2
    python = list(calls)
    calls.clear()
    assert _calls_on_graph(search, x, 2.5) == 2
    assert calls == python


def test_a_module_global_named_like_a_builtin_is_not_the_builtin(monkeypatch):
    calls = []
    monkeypatch.setitem(globals(), "len", _counting(calls))  # a module global `len`
    x = np.float32([1, 2, 3, 4])
    assert search_global(x, 2.5) == 2
    python = list(calls)
    calls.clear()
    assert _calls_on_graph(search_global, x, 2.5) == 2
    assert calls == python


def test_a_membership_test_on_an_iterator_is_not_re_evaluated():
    def membership(items, t):
        it = iter(items)
        n = 0
        while 7 in it:  # consumes `it` up to the next 7: evaluated twice, it finds another
            if n > t:
                return n
            n += 1
        return -1

    assert membership([7, 1, 7, 2], 0) == 1
    assert _calls_on_graph(membership, [7, 1, 7, 2], 0) == 1


def test_max_of_an_iterator_is_not_re_evaluated():
    def first_small(make, t):
        n = 0
        its = make()
        while max(its[n]) > t:  # consumes its[n]: evaluated again it would raise
            if n >= 1:
                return n
            n += 1
        return -1

    def make():
        return [iter([5, 1]), iter([4, 2]), iter([0])]

    assert first_small(make, 3) == 1
    assert _calls_on_graph(first_small, make, 3) == 1


# -- drawn programs: the shapes above over random data ---------------------------------------

def hoisted_mix(x, limit):
    total = 0.0
    count = 0
    for i, v in enumerate(x):
        if max(total, 0.0) > limit:
            break
        total += v
        count += 1
    j = 0
    while j < len(x):
        if x[j] > limit:
            found = j * 10
            return total, count, found
        j += 1
    return total, count, -1


# made once, traced and compiled once per drawn length: empty (both loops run zero times),
# one element, a short and a long list
compiled_hoisted_mix = xf.function(hoisted_mix)


@settings(max_examples=25, deadline=None)
@given(hs.sampled_from([0, 1, 3, 7]).flatmap(lambda n: hs.lists(
           hs.integers(-8, 8), min_size=n, max_size=n)).map(lambda v: np.float32(v)),
       hs.integers(-10, 12).map(np.float32))
def test_hoisted_exits_agree_with_python_drawn(x, limit):
    expect = hoisted_mix(x, limit)
    assert _calls_on_graph(hoisted_mix, x, limit) == expect
    got = compiled_hoisted_mix(jnp.asarray(x), jnp.asarray(limit))
    np.testing.assert_allclose(np.asarray(got, dtype=np.float32),
                               np.asarray(expect, dtype=np.float32))


# -- errors: a moved test still names its own statement and line ---------------------------

def _line_of(fn, text):
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def vector_exit_while(x, t):
    i = 0
    while i < 3:
        if x > t:  # a vector: the `if` cannot take it
            break
        i += 1
    return i


def vector_exit_for(x, t):
    i = 0
    for _ in x:
        if x > t:  # a vector: the `if` cannot take it
            break
        i += 1
    return i


def vector_while_test(x, t):
    i = 0
    while x > t:  # a vector: the loop cannot take it
        if i > 3:
            break
        x = x - 1.0
        i += 1
    return x


@pytest.mark.parametrize("fn, text, what", [
    (vector_exit_while, "if x > t", "`if`"),
    (vector_exit_for, "if x > t", "`if`"),
    (vector_while_test, "while x > t", "while loop"),
])
def test_a_non_scalar_moved_test_names_its_own_line(fn, text, what):
    where = f"test_loop_exits_review.py:{_line_of(fn, text)}: the condition of this {what} "
    with pytest.raises(ValueError, match=re.escape(where) + r"is a tensor of shape \(3,\)"):
        xf.function(fn)(jnp.ones(3) * 5, jnp.float32(1.0))
