"""TF's AutoGraph reference programs for `if` statements: names an `if` creates or deletes,
Variables, None, nested and successive ifs, and composite names (`x['b']`, `x[1]`) in ifs
and loops.

Each program runs as plain Python on Python/NumPy values (the oracle), then under xf.function
with jax arrays (a tensor decides: lax control flow) and with the Python values (decided at
trace time). Where TF refuses a construct, xlaflow raises at trace time naming the variable
and the line, or, where it supports more, must agree with Python.
"""

import jax.numpy as jnp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import xlaflow as xf
from tests.autograph.reference_programs import line_of, same, three_ways

# -- names an `if` creates or deletes (cond_basic_test.py) --------------------------------

def made_in_body(c):
    if c:
        k = 3
    return k


def made_in_else(c):
    if c:
        pass
    else:
        k = 4
    return k


def made_in_both(c):
    if c:
        k = 3
    else:
        k = 4
    return k


def deleted_in_body(c):
    k = 5
    if c:
        del k
    return k


def deleted_in_else(c):
    k = 5
    if c:
        pass
    else:
        del k
    return k


def deleted_in_both(c):
    k = 5
    if c:
        del k
    else:
        del k
    return k


def deleted_then_returned_in_a_tuple(c):
    k = 5
    del k
    return c, (k,)  # noqa: F821 - read after `del`: Python raises UnboundLocalError


@pytest.mark.parametrize(("fn", "c"), [(made_in_body, True), (made_in_else, False),
                                       (deleted_in_body, False), (deleted_in_else, True)])
def test_a_python_condition_may_leave_a_name_unbound_on_the_path_not_taken(fn, c):
    assert xf.function(fn)(c) == fn(c)


@pytest.mark.parametrize(("fn", "c"), [
    (made_in_body, False), (made_in_else, True), (deleted_in_body, True),
    (deleted_in_else, False), (deleted_in_both, True), (deleted_in_both, False),
    (deleted_then_returned_in_a_tuple, True)])
def test_reading_a_name_no_python_path_bound_raises_unbound_local_error(fn, c):
    with pytest.raises(UnboundLocalError):
        fn(c)  # the oracle
    with pytest.raises(UnboundLocalError, match="'k'"):
        xf.function(fn)(c)


@pytest.mark.parametrize(("fn", "branch"), [
    (made_in_body, "false"), (made_in_else, "true"), (deleted_in_body, "true"),
    (deleted_in_else, "false"), (deleted_in_both, "true")])
@pytest.mark.parametrize("c", [True, False])
def test_a_tensor_condition_needs_the_name_on_both_paths(fn, branch, c):
    # TF: "'k' must also be initialized in the else branch"; here the branch and the line
    with pytest.raises(NameError, match=line_of(fn, "if c:") + rf": 'k' has no value on one "
                                        rf"path through this `if`: its {branch} branch"):
        xf.function(fn)(jnp.asarray(c))


def test_made_in_both_branches_is_defined_on_every_path():
    for c in (True, False):
        three_ways(made_in_both, c)


# -- `if` with state, Variables and None (cond_basic_test.py) -----------------------------

def counts_into(c, v):
    v.assign(10)
    if c:
        v.assign_add(5)
    return v.read_value()


def counts_into_either(c, v):
    v.assign(10)
    if c:
        v.assign_add(5)
    else:
        v.assign_sub(3)
    return v.read_value()


@pytest.mark.parametrize("fn", [counts_into, counts_into_either])
@pytest.mark.parametrize("c", [True, False])
def test_an_if_whose_only_effect_is_on_a_variable(fn, c):
    oracle = xf.Variable(0)
    expect = fn(c, oracle)
    for arg in (c, jnp.asarray(c)):
        v = xf.Variable(0)
        assert int(xf.function(fn)(arg, v)) == int(expect) == int(v.numpy())


def bumps_one(n):
    k = 0
    if k < n:
        k += 2
    return k


def bumps_one_or_other(n):
    k = 0
    if k < n:
        k += 2
    else:
        k -= 3
    return k


def bumps_two(n):
    k, m = 0, 1
    if k < n:
        k += 2
        m *= 7
    return k, m


def bumps_two_either(n):
    k, m = 0, 1
    if k < n:
        k += 2
        m *= 7
    else:
        k -= 3
        m *= -4
    return k, m


@settings(max_examples=10, deadline=None)
@given(hs.integers(-3, 3))
def test_ifs_that_update_one_or_two_names(n):
    for fn in (bumps_one, bumps_one_or_other, bumps_two, bumps_two_either):
        three_ways(fn, n, drawn=True)


def none_in_body(c):
    k, m = 0, 1
    if c:
        k = None
        m = 2
    return k, m


def none_in_both(c):
    if c:
        k, m = None, 1
    else:
        k, m = None, 2
    return k, m


def none_in_else(c):
    k, m = 1, 1
    if c:
        pass
    else:
        k, m = None, 2
    return k, m


@pytest.mark.parametrize("c", [True, False])
def test_none_leaving_an_if(c):
    for fn in (none_in_body, none_in_both, none_in_else):
        assert xf.function(fn)(c) == fn(c)
    three_ways(none_in_both, c)  # TF refuses None from a tensor `if`; None on both is fine


@pytest.mark.parametrize(("fn", "true", "false"), [(none_in_body, "None", "int32"),
                                                   (none_in_else, "int32", "None")])
def test_none_on_one_tensor_path_names_the_variable(fn, true, false):
    with pytest.raises(TypeError, match=line_of(fn, "if c:") + rf": 'k' is .*{true}.* in the "
                                        rf"true branch .* but .*{false}.* in the false branch"):
        xf.function(fn)(jnp.asarray(True))


def local_to_body(c):
    k = 0
    if c:
        t = 4
        k = t + 1
    return k


def local_to_both(c):
    k = 0
    if c:
        t = 4
    else:
        t = 6
        k = t + 1
    return k


def reassigned_temporary(c):
    k, t = 0, 2
    if c:
        t = t + 1
        k = t * 3
    return k


@pytest.mark.parametrize("c", [True, False])
def test_names_used_only_inside_the_if(c):
    for fn in (local_to_body, local_to_both, reassigned_temporary):
        three_ways(fn, c)


def returns_two_ifs_deep(c1, c2):
    if c1:  # noqa: SIM102 - nested on purpose: the inner `if` has no else
        if c2:
            return 10
    return 20


@pytest.mark.parametrize("c1", [True, False])
@pytest.mark.parametrize("c2", [True, False])
def test_a_return_two_tensor_ifs_deep(c1, c2):
    # TF refuses this with tensors ("must also have a return"); xlaflow agrees with Python
    three_ways(returns_two_ifs_deep, c1, c2)


def one_after_another(n1, n2):
    s, i = 0, 1
    if i < n1:
        s = s * 10 + i
        i += 1
    i = 2
    if i < n2:
        s = s * 10 + i
    else:
        s = s * 11 - i
    return s


def one_inside_another(n1, n2):
    s, level = 0, 0
    if level < n1:
        j, t = 1, 0
        if j < n2:
            t = t * 10 + j
            j += 1
        else:
            t = t * 13 - j
        level = level * 100 + t + j
    else:
        j, t = 2, 5
        if j < n2:
            t = t * 12 + j
        level = level * 200 + t - j
    return s + level


@pytest.mark.parametrize("fn", [one_after_another, one_inside_another])
@pytest.mark.parametrize("tensors", [(False, False), (True, False), (False, True),
                                     (True, True)])
def test_successive_and_nested_ifs(fn, tensors):
    compiled = xf.function(fn)
    for n1 in (0, 1, 3):
        for n2 in (0, 2, 5):
            args = [jnp.int32(v) if t else v for v, t in zip((n1, n2), tensors)]
            if not all(tensors):
                compiled = xf.function(fn)  # a Python value retraces: no retracing warning
            same(compiled(*args), fn(n1, n2))


# -- composite names in control flow (composite_names_in_control_flow_test.py) ------------

def sets_key(a):
    x = {"a": a}
    if x["a"] > 0:
        x["b"] = 5
    else:
        x["b"] = -5
    return x


def sets_item(a):
    x = [a, 0]
    if x[0] > 0:
        x[1] = 5
    else:
        x[1] = -5
    return x


def key_in_body(a):
    x = {"a": a}
    if x["a"] > 0:
        x["b"] = 5
    return x


def nested_key_in_else(a):
    x = {"a": {"a": a}}
    if x["a"]["a"] > 0:
        pass
    else:
        x["a"]["b"] = 5
    return x


def missing_outer_key(a):
    x = {"a": {"a": a}}
    if x["a"]["a"] > 0:
        x["b"]["a"] = 5  # x has no 'b': a bug, in Python and compiled alike
    return x


@pytest.mark.parametrize("a", [-1, 0, 2])
def test_subscripts_assigned_in_an_if(a):
    for fn in (sets_key, sets_item):
        three_ways(fn, a)
    for fn in (key_in_body, nested_key_in_else):  # Python conditions may add a key
        assert xf.function(fn)(a) == fn(a)


@pytest.mark.parametrize(("fn", "name", "branch"), [
    (key_in_body, r"x\['b'\]", "false"), (nested_key_in_else, r"x\['a'\]\['b'\]", "true")])
def test_a_key_added_on_one_tensor_path_is_named(fn, name, branch):
    with pytest.raises(NameError, match=line_of(fn, "if x[") + rf": '{name}' has no value on "
                                        rf"one path through this `if`: its {branch} branch"):
        xf.function(fn)(jnp.int32(1))


def test_a_missing_key_raises_key_error_as_in_python():
    assert xf.function(missing_outer_key)(0) == missing_outer_key(0)  # branch not taken
    with pytest.raises(KeyError, match="'b'"):
        missing_outer_key(1)
    with pytest.raises(KeyError, match="'b'"):
        xf.function(missing_outer_key)(1)
    for a in (0, 1):  # a tensor: both branches are traced, so both values raise (as in TF)
        with pytest.raises(KeyError, match="'b'") as info:
            xf.function(missing_outer_key)(jnp.int32(a))
        assert 'x["b"]["a"] = 5' in "\n".join(info.value.__notes__)  # the user's line


def counts_down_into_a_list(x, a, b):
    y = [a, b]
    while x > 0:
        x -= 1
        y[0] += 3
    return y


def doubles_a_key(a, b):
    y = {"a": a, "b": b}
    while y["b"] <= 40:
        y["a"] += 1
        y["b"] *= 2
    return y


def key_made_in_a_while(b):
    y = {"b": b}
    while y["b"] <= 10:
        y["a"] = y["b"] + 1
        y["b"] *= 2
    return y


def key_made_in_a_for(n, x):
    y = {}
    for i in range(n):
        x -= i
        y["a"] = x
    return y


def sums_into_an_item(n, a, b):
    y = {"a": a, "b": b}
    for i in range(n):
        y["a"] += i
    return y


@settings(max_examples=15, deadline=None)
@given(hs.integers(-1, 4), hs.integers(1, 12))
def test_subscripts_as_loop_state(n, b):
    three_ways(counts_down_into_a_list, n, 7, 0, drawn=True)
    three_ways(doubles_a_key, 0, b, drawn=True)
    three_ways(sums_into_an_item, n, 1, 1, drawn=True)
    if b <= 10:  # runs at least once (zero times on a tensor: the test below)
        three_ways(key_made_in_a_while, b, drawn=True)
    if n > 0:
        three_ways(key_made_in_a_for, n, 0, drawn=True)


@pytest.mark.parametrize(("fn", "args"), [(key_made_in_a_while, (11,)),
                                          (key_made_in_a_for, (0, 0))])
def test_a_key_only_a_tensor_loop_makes_needs_an_iteration(fn, args):
    assert xf.function(fn)(*args) == fn(*args)  # Python values: the loop is unrolled
    # TF: "loop must iterate at least once to initialize y['a']", at run time as here
    with pytest.raises(ValueError, match=r"'y\['a'\]' is first assigned inside this loop, "
                                         "which ran zero times"):
        xf.function(fn)(jnp.int32(args[0]), *args[1:])
