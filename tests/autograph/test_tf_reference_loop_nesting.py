"""Nested control flow, lists and datasets as TF's AutoGraph reference programs exercise
them (nested_control_flow, basic_list, datasets), and the in-place changes of Python
containers that a traced block cannot repeat once per iteration.
"""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xlaflow as xf
from tests.autograph.conftest import _compare
from tests.autograph.loop_reference import as_tensor as _tensor
from tests.autograph.loop_reference import matches_python

# -- loops and ifs nested in each other (nested_control_flow) ----------------------------

def sum_inner_for(a, b):
    p = 0
    for _ in a:
        tmp = b
        for j in tmp:
            p += j
    return p


def inner_for_feeds_outer(a, b):
    r, s = 1, 0
    for _ in a:
        r += s
        for j in b:
            s += j
    return r


def inner_while_counts(a, b):
    p = 0
    while a > 0:
        tmp = b
        while tmp > 0:
            p += 1
            tmp -= 1
        a -= 1
    return p


def inner_while_drains_outer(a, b):
    r = 1
    while a > 0:
        r += 1
        tmp = b
        while tmp > 0:
            a -= 1
            tmp -= 1
        a -= 1
    return r


def odd_halves(seq):
    k = 0
    for i in seq:
        if i % 2 > 0:
            j = i // 2  # defined on one branch only, used only there
            k += j
    return k


@pytest.mark.parametrize("a, b", [(0, 2), (2, 0), (2, 2)])
def test_independent_and_dependent_inner_loops(a, b):
    ra, rb = list(range(a)), list(range(b))
    matches_python(sum_inner_for, ra, rb)
    matches_python(inner_for_feeds_outer, ra, rb)
    matches_python(odd_halves, ra + rb)
    for x, y in ((a, b), (a + 2, b + 1)):
        matches_python(inner_while_counts, x, y)
        matches_python(inner_while_drains_outer, x, y)
    # a Python outer bound with a tensor inner one (TF skips this mix, b/124378596)
    _compare(xf.function(inner_while_drains_outer)(a + 2, _tensor(b + 1)),
             inner_while_drains_outer(a + 2, b + 1))


def work_in_a_context(x, leave):
    z = 0
    while x > 0:
        with contextlib.nullcontext():
            x = x - 1
            if x < 5:
                if leave:
                    break
                continue
            z = z + 1
    return z


def work_in_try_finally(x, leave):
    z = 0
    while x > 0:
        x = x - 1
        try:
            if x < 5:
                if leave:
                    break
                continue
            z = z + 1
        finally:
            z = z + 10  # runs on break and continue too
    return z


@pytest.mark.parametrize("fn", [work_in_a_context, work_in_try_finally])
@pytest.mark.parametrize("x", [0, 4, 10])
@pytest.mark.parametrize("leave", [True, False])
def test_break_and_continue_inside_with_and_try_finally(fn, x, leave):
    matches_python(fn, x, leave)


def invariant_after_first(n):
    for i in range(n):
        if i == 0:
            a = 1
        else:
            a = 2
    return a


def grows_after_first(n):
    for i in range(n):
        if i == 0:
            a = 1
        else:
            a = a + 1
    return a


def test_a_loop_that_initializes_a_name_on_its_first_iteration():
    for n in (1, 2):
        matches_python(invariant_after_first, n)
        _compare(xf.function(grows_after_first)(n), grows_after_first(n))
    for fn in (invariant_after_first, grows_after_first):
        with pytest.raises(UnboundLocalError):
            xf.function(fn)(0)
    with pytest.raises(ValueError, match="'a' is first assigned inside this loop, which ran "
                                         "zero times"):
        xf.function(invariant_after_first)(_tensor(0))
    # the carried `a` has no value before the loop: TF's "must be defined before the loop"
    with pytest.raises(UnboundLocalError, match=r"'a' is used before any assignment"):
        xf.function(grows_after_first)(_tensor(2))


def nested_ifs(x, y):
    z = 0
    if x > 0:  # noqa: SIM102 - nested on purpose: the construct under test
        if y > 0:
            z = x + y
    w = 0
    if x > 0:
        w = -2 * x
        if w > 0:
            x = -3 * x
        if x < 3:
            y = -2 * x
    else:
        w = 4 * x
    return x, y, z, w


def test_nested_ifs_with_dependent_and_imbalanced_branches():
    compiled = xf.function(nested_ifs)

    @settings(max_examples=15, deadline=None)
    @given(st.integers(-3, 4), st.integers(-3, 4))
    def check(x, y):
        _compare(compiled(_tensor(x), _tensor(y)), nested_ifs(x, y))

    check()


def _raise_for_flow():
    raise ValueError("used for control flow")


def exception_masks_update(x):
    y = 0
    if x > 0:
        try:
            if x > 1:
                _raise_for_flow()
            y = 1
        except ValueError:
            pass
        if y == 0:
            y = 2
    return y


@pytest.mark.parametrize("x", [-1, 0, 1, 2])
def test_an_exception_inside_a_python_if(x):
    assert int(xf.function(exception_masks_update)(x)) == exception_masks_update(x)
    # TF leaves this undefined for tensors; XLA cannot catch, so xlaflow refuses it
    with pytest.raises(NotImplementedError, match=r"`try` at line \d+ is inside an `if` "
                                                  r"that depends on a tensor"):
        xf.function(exception_masks_update)(_tensor(x))


# -- Python lists filled and read by loops (basic_list) ---------------------------------

def fill(n):
    items = []
    for i in range(n):
        items.append(i)  # noqa: PERF402 - the append loop is the construct under test
    return items


def fill_matrix(m, n):
    rows = []
    for _ in range(m):
        row = []
        for j in range(n):
            row.append(j)  # noqa: PERF402 - as above
        rows.append(row)
    return rows


def fibonacci_flipping(n):
    items = [1, 1]
    for i in range(2, n):
        items.append(items[i - 1] + items[i - 2])
        items[i - 2] = -items[i - 2]
    return items


def pop_from_the_end(n):
    items = [1, 2, 3, 4]
    s = 0
    for _ in range(n):
        s += items.pop()
    return items, s


def overwrite(t, n):
    for i in range(n):
        t[i] = i
    return t


@pytest.mark.parametrize("n", [0, 2, 4])
def test_lists_filled_read_and_popped_in_python_loops(n):
    for fn, args in ((fill, (n,)), (fill_matrix, (n, 3)), (fibonacci_flipping, (n + 1,)),
                     (pop_from_the_end, (n,)), (overwrite, ([0] * 5, n))):
        _compare(xf.function(fn)(*args), fn(*args))


def test_lists_in_tensor_loops_that_cannot_follow_python_say_why():
    with pytest.raises(TypeError, match="appending to list 'items' in a loop whose number of "
                                        "iterations depends on a tensor"):
        xf.function(fill)(_tensor(3))
    with pytest.raises(NotImplementedError, match=r"`t\[i\] = ...` at line \d+ \(a subscript "
                                                  r"with a computed key\)"):
        xf.function(overwrite)([0] * 5, _tensor(3))
    with pytest.raises(TypeError, match="JAX arrays are immutable"):
        xf.function(overwrite)(_tensor([0] * 5), 3)


# -- xf.data inside xf.function (datasets) -----------------------------------------------

def dataset_digits(ds):
    s = 0
    for e in ds:
        s = s * 10 + e
    return s


def iterator_first_two(ds):
    it = iter(ds)
    return 10 * next(it) + next(it)


def test_a_dataset_is_iterated_on_the_host_not_inside_xf_function():
    ds = xf.data.Dataset.range(5)
    assert int(dataset_digits(ds)) == 1234  # the oracle: plain Python on the host
    assert int(iterator_first_two(ds)) == 1
    # TF lowers a dataset loop into the graph; xlaflow's pipelines run in Python beside
    # the compiled step, and say so (naming the loop's line)
    for fn in (dataset_digits, iterator_first_two):
        with pytest.raises(TypeError, match=r"a dataset cannot be iterated inside a traced "
                                            r"function(.|\n)*in user code:\n.*"
                                            rf"\.py\", line \d+, in "
                                            rf"{fn.__name__}"):
            xf.function(fn)(ds)
    # the supported pattern: the host loop feeds a compiled step
    step = xf.function(lambda s, e: s * 10 + e)
    s = jnp.int64(0) if jax.config.jax_enable_x64 else jnp.int32(0)
    for e in ds:
        s = step(s, e)
    assert int(s) == 1234


# -- in-place changes and appends a traced block cannot repeat ---------------------------

_log = []


def appends_to_an_outer_list(x):
    for v in x:
        _log.append(v)  # noqa: PERF402 - an append to an outer list, under test
    return x


def updates_on_both_branches(x):
    d = {"a": 0}
    if x > 0:
        d.update(a=1)
    else:
        d.update(a=2)
    return d["a"]


def sorts_an_array(x, n):
    out = x
    for _ in range(n):
        out = x.sort() + out  # a jax array's sort() returns a copy: not refused
    return out


def test_in_place_changes_of_a_container_in_a_tensor_block_are_refused():
    # traced once, pop() would run once for all iterations (a silently wrong sum before)
    with pytest.raises(NotImplementedError, match=r"`items.pop\(...\)` at line \d+ \(changes "
                                                  r"'items' in place\) is inside a for loop "
                                                  r"that depends on a tensor"):
        xf.function(pop_from_the_end)(_tensor(2))
    with pytest.raises(NotImplementedError, match=r"`d.update\(...\)` at line \d+ .* is inside "
                                                  r"an `if` that depends on a tensor"):
        xf.function(updates_on_both_branches)(_tensor(1))
    with pytest.raises(NotImplementedError, match=r"`_log.append\(...\)` at line \d+"):
        xf.function(appends_to_an_outer_list)(jnp.arange(3.0))
    assert _log == []  # refused before the body ran: no tracer leaked into the list
    # on Python values they are plain Python
    for fn, arg in ((pop_from_the_end, 2), (updates_on_both_branches, 1),
                    (updates_on_both_branches, -1)):
        _compare(xf.function(fn)(arg), fn(arg))
    x = np.int32([3, 1, 2])
    _compare(xf.function(sorts_an_array)(jnp.asarray(x), _tensor(2)), np.sort(x) * 2 + x)


def a_comprehension_binds_its_own_name(x):
    d = {"a": 1}
    s = 0.0
    for v in x:
        # this `d` is the comprehension's own (a fresh dict each time): the outer d is kept
        s += v * len([d.setdefault("z", v) for d in [{}, {}]])
    return s, d["a"], len(d)


def a_comprehension_over_a_popped_item(x):
    d = {"a": 1, "b": 2}
    s = 0.0
    for v in x:
        s += v * len([d for d in d.popitem()])  # the first `in` reads the outer d
    return s


def test_a_comprehension_variable_is_not_the_outer_container():
    x = np.arange(4.0, dtype=np.float32)
    _compare(xf.function(a_comprehension_binds_its_own_name)(jnp.asarray(x)),
             a_comprehension_binds_its_own_name(x))
    with pytest.raises(NotImplementedError, match=r"`d.popitem\(...\)` at line \d+"):
        xf.function(a_comprehension_over_a_popped_item)(jnp.asarray(x))
