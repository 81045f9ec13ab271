"""Loops as TF's AutoGraph reference programs exercise them (loop_basic, loop_control_flow),
in our own programs: each runs as plain Python (the oracle), under xf.function on int32
tensors and on the Python values. Where TF refuses a construct (for/else on tensors, a
`return` in a loop that may not run) xlaflow runs it and must equal Python.
"""


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xlaflow as xf
from tests.autograph.conftest import _compare
from tests.autograph.loop_reference import as_tensor as _tensor
from tests.autograph.loop_reference import matches_python

SMALL_LISTS = ([], [1], [1, 2], [3, 1, 2, 4])
COUNTS = (0, 1, 2, 5)


# -- loops over various kinds of values (loop_basic) -------------------------------------

def while_on_a_variable_only(n, v):
    v.assign(0)
    while v.read_value() < n:  # no local state: the Variable is the loop's only state
        v.assign_add(1)
    return v.read_value()


def for_on_a_variable_only(seq, v):
    v.assign(0)
    for _ in seq:
        v.assign_add(1)
    return v.read_value()


@pytest.mark.parametrize("n", COUNTS)
def test_a_loop_whose_only_state_is_a_variable(n):
    expect = n
    for arg in (n, _tensor(n)):
        assert int(xf.function(while_on_a_variable_only)(arg, xf.Variable(7))) == expect
    for seq in ([1] * n, _tensor([1] * n)):
        v = xf.Variable(7)
        assert int(xf.function(for_on_a_variable_only)(seq, v)) == expect
        assert int(v.numpy()) == expect


def repeated_digits(n):
    i = 0
    while i < n:
        i = i * 10 + 1
    return i


def keeps_last(seq):
    last = -1
    for last in seq:  # the target is state the loop may leave untouched
        pass
    return last


def digits_while(n):
    s, i = 0, 0
    while i < n:
        s = s * 10 + i
        i += 1
    return s


def digits_for(seq):
    s = 0
    for d in seq:
        s = s * 10 + d
    return s


@pytest.mark.parametrize("n", COUNTS)
def test_while_loops_of_one_and_two_variables(n):
    matches_python(repeated_digits, n)
    matches_python(digits_while, n)


@pytest.mark.parametrize("seq", SMALL_LISTS)
def test_for_loops_of_one_and_two_variables(seq):
    matches_python(keeps_last, seq)
    matches_python(digits_for, seq)


def else_after_membership_break(seq, stops):
    s = 0
    for c in seq:
        if c in stops:  # `in` against a tensor decides the break
            break
        s = s * 10 + c
    else:
        s = -1000
    return s


def else_after_while_break(x, y):
    s = 0
    while x > 0:
        x -= 1
        if x > y:
            break
        s += x
    else:
        s = -100
    return s


@pytest.mark.parametrize("seq", [[], [1, 2], [2, 3, 4]])
@pytest.mark.parametrize("stops", [[], [2], [4, 9]])
def test_for_else_after_a_membership_break(seq, stops):
    # TF raises NotImplementedError for loop `else:` on tensors; xlaflow runs it
    matches_python(else_after_membership_break, seq, stops)


@pytest.mark.parametrize("x, y", [(0, 0), (0, 2), (2, 0), (2, 2), (5, 3)])
def test_while_else_after_a_break(x, y):
    matches_python(else_after_while_break, x, y)


def assigns_in_while(n):
    i = 0
    while i < n:
        i = n + 1
        j = i + 1
    return i, j


def target_read_after(seq):
    for t in seq:
        pass
    return t


@pytest.mark.parametrize("n", [1, 2])
def test_names_first_assigned_in_a_loop_that_runs(n):
    matches_python(assigns_in_while, n)
    matches_python(target_read_after, [5] * n)


def test_names_first_assigned_in_a_loop_that_runs_zero_times():
    for fn, empty in ((assigns_in_while, 0), (target_read_after, [])):
        with pytest.raises(UnboundLocalError):
            fn(empty)  # the oracle
        with pytest.raises(UnboundLocalError):
            xf.function(fn)(empty)  # Python values: the loop runs in Python at trace time
    with pytest.raises(ValueError, match=r"'j' is first assigned inside this loop, which ran "
                                         r"zero times"):
        xf.function(assigns_in_while)(_tensor(0))
    # a tensor of static length 0: the loop is known not to run, as in Python
    with pytest.raises(UnboundLocalError, match=r"'t' is used before any assignment"):
        xf.function(target_read_after)(_tensor([]))


def successive_whiles(n1, n2):
    s, i = 0, 0
    while i < n1:
        s = s * 10 + i
        i += 1
    i = 0
    while i < n2:
        s = s * 10 + i
        i += 1
    return s


def successive_fors(a, b):
    s = 0
    for i in a:
        s = s * 10 + i
    for i in b:
        s = s * 10 + i
    return s, i


def nested_whiles(n1, n2):
    out, i = 0, 0
    while i < n1:
        j, s = 0, 0  # reset each outer step: inner state that is not outer state
        while j < n2:
            s = s * 10 + i * j
            j += 1
        out = out * 100 + s
        i += 1
    return out


def nested_fors_collect(m):
    rows = []
    for r in m:
        s = 0
        for v in r:
            s = s * 10 + v
        rows.append(s)
    return rows


@pytest.mark.parametrize("n1, n2", [(0, 0), (0, 2), (2, 0), (1, 2), (2, 3)])
def test_successive_and_nested_while_loops(n1, n2):
    matches_python(successive_whiles, n1, n2)
    matches_python(nested_whiles, n1, n2)


@pytest.mark.parametrize("a, b", [([1], [2, 3]), ([1, 2], [4]), ([7], [1])])
def test_successive_for_loops_reusing_the_target(a, b):
    matches_python(successive_fors, a, b)


@pytest.mark.parametrize("m", [[[]], [[], []], [[1]], [[1], [2]], [[1, 2], [3, 4]]])
def test_nested_for_loops_over_a_matrix_append_one_item_per_row(m):
    matches_python(nested_fors_collect, m)


def test_nested_for_loops_over_ragged_and_mixed_rows():
    ragged = [[], [1], [1, 2]]
    expect = nested_fors_collect(ragged)
    _compare(xf.function(nested_fors_collect)(ragged), expect)
    mixed = [[], _tensor([]), [1], _tensor([1]), [1, 2]]
    _compare(xf.function(nested_fors_collect)(mixed), [0, 0, 1, 1, 12])


# -- break, continue and return in single and nested loops (loop_control_flow) -----------

def skip_odd_for(seq):
    s = 0
    for c in seq:
        if c % 2 > 0:
            continue
        s += c
    return s


def stop_at_odd_for(seq):
    s = 0
    for c in seq:
        if c % 2 > 0:
            break
        s += c
    return s


def return_first_for(seq):
    s = 0
    for c in seq:
        s += c
        return s
    return s


def return_either_way_for(seq):
    s = 0
    for c in seq:
        s += c
        if c % 2 > 0:
            return s
        else:
            return -s
    return s


def skip_odd_while(x):
    s = 0
    while x > 0:
        x -= 1
        if x % 2 > 0:
            continue
        s += x
    return s


def stop_at_odd_while(x):
    s = 0
    while x > 0:
        x -= 1
        if x % 2 > 0:
            break
        s += x
    return s


def return_first_while(x):
    s = 0
    while x > 0:
        x -= 1
        s += x
        return s
    return s


def return_either_way_while(x):
    s = 0
    while x > 0:
        x -= 1
        s += x
        if x % 2 > 0:
            return s
        else:
            return -s
    return s


def two_breaks_while(n):
    s, i = 1, 0
    while i < n:
        i += 1
        if i > 10 * n:
            break
        if i == n:
            break
        s = s * 10 + i
    return i, s


def cond_after_break_for(x, y):
    for i in range(y):
        if i == 2:
            break
        if x > 0:
            x -= 1
    return x


def cond_after_break_while(x):
    while x > 0:
        if x == 2:
            break
        if x > 0:
            x -= 1
    return x


SINGLE_FOR = (skip_odd_for, stop_at_odd_for, return_first_for, return_either_way_for)
SINGLE_WHILE = (skip_odd_while, stop_at_odd_while, return_first_while,
                return_either_way_while, cond_after_break_while)


@pytest.mark.parametrize("fn", SINGLE_FOR)
@pytest.mark.parametrize("seq", [[], [1], [2, 1], [2, 4, 3, 6]])
def test_exits_in_a_single_for_loop(fn, seq):
    # TF requires a loop with a `return` to run at least once; here an empty one returns
    # after the loop, as in Python
    matches_python(fn, seq)


@pytest.mark.parametrize("fn", SINGLE_WHILE)
def test_exits_in_a_single_while_loop(fn):
    compiled = xf.function(fn)  # one trace: every draw is an int32 scalar

    @settings(max_examples=12, deadline=None)
    @given(st.integers(-3, 9))
    def check(x):
        _compare(compiled(_tensor(x)), fn(x))

    check()
    matches_python(fn, 4)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_two_breaks_in_one_while_loop_and_a_test_after_a_break(n):
    matches_python(two_breaks_while, n)
    for y in (0, 1, 4):
        matches_python(cond_after_break_for, n, y)


def skip_in_inner_for(m):
    s = 0
    for r in m:
        for c in r:
            if c % 2 > 0:
                continue
            s += c
    return s


def stop_in_inner_for(m):
    s = 0
    for r in m:
        for c in r:
            if c % 2 > 0:
                break
            s += c
    return s


def stop_or_skip_in_inner_for(m):
    s = 0
    for r in m:
        for c in r:
            if c % 2 > 0:
                break
            else:
                continue
            s += c  # unreachable: both branches leave the iteration
    return s


def skip_in_inner_while(x, y):
    s = 0
    while x > 0:
        x -= 1
        while y > 0:
            y -= 1
            if (x + y) % 2 > 0:
                continue
            s += x + y
    return s


def stop_in_inner_while(x, y):
    s = 0
    while x > 0:
        x -= 1
        while y > 0:
            y -= 1
            if (x + y) % 2 == 0:
                break
            s += x + y
    return s


def stop_or_skip_in_inner_while(x, y):
    s = 0
    while x > 0:
        x -= 1
        while y > 0:
            y -= 1
            if (x + y) % 2 > 0:
                break
            else:
                continue
            s += x + y
    return s


@pytest.mark.parametrize("fn", [skip_in_inner_for, stop_in_inner_for,
                                stop_or_skip_in_inner_for])
@pytest.mark.parametrize("m", [[[], []], [[1], [2]], [[2, 1], [4, 6]], [[2, 4, 5], [1, 2, 3]]])
def test_exits_in_an_inner_for_loop_leave_the_outer_one_running(fn, m):
    matches_python(fn, m)
    # a Python list of tensors: the outer loop runs in Python, the inner ones are scans
    _compare(xf.function(fn)([_tensor(r) for r in m]), fn(m))


@pytest.mark.parametrize("fn", [skip_in_inner_while, stop_in_inner_while,
                                stop_or_skip_in_inner_while])
def test_exits_in_an_inner_while_loop_leave_the_outer_one_running(fn):
    compiled = xf.function(fn)

    @settings(max_examples=15, deadline=None)
    @given(st.integers(-1, 4), st.integers(-1, 4))
    def check(x, y):
        _compare(compiled(_tensor(x), _tensor(y)), fn(x, y))

    check()
    matches_python(fn, 3, 4)
    for x, y in ((3, 4), (4, 3)):  # a Python inner bound, made state by the outer loop
        _compare(xf.function(fn)(_tensor(x), y), fn(x, y))
