"""The constructs of TF's AutoGraph reference programs for conditionals, returns and calls.

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

# -- early returns (early_return_test.py) ------------------------------------------------

def _fails():
    raise ValueError("from the helper")


def caught_while_returning():
    try:
        return _fails()  # raises before returning: the function goes on
    except ValueError:
        pass
    return 7


def test_a_return_whose_value_raises_has_not_returned():
    three_ways(caught_while_returning)


def caught_after_a_tensor_return(c):
    if c:
        return 2
    try:
        return _fails()
    except ValueError:
        pass
    return 1


@pytest.mark.xfail(strict=True, raises=NotImplementedError, reason=(
    "a `try` after a tensor-dependent `return` becomes part of that `if`'s other branch, "
    "and xlaflow refuses every `try` with handlers inside a tensor block; TF traces it and "
    "catches the trace-time error"))
def test_a_try_after_a_tensor_return_catches_like_python():
    for c in (True, False):
        three_ways(caught_after_a_tensor_return, c)


def returns_on_some_paths(x):
    if x > 0:
        if x < 5:
            return x
    else:
        return x * x * x


@pytest.mark.parametrize("x", [-2, 3, 5])
def test_falling_off_the_end_on_a_python_path_returns_none(x):
    assert xf.function(returns_on_some_paths)(x) == returns_on_some_paths(x)


@pytest.mark.parametrize("x", [-2, 3, 5])
def test_falling_off_the_end_on_a_tensor_path_names_the_function_and_line(x):
    # TF: "else branch must also have a return"
    with pytest.raises(TypeError, match=line_of(returns_on_some_paths, "if x > 0:") +
                       r": returns_on_some_paths\(\) returns a value on some tensor-"):
        xf.function(returns_on_some_paths)(jnp.int32(x))


class Scope:
    """A context manager that records how often it was entered and left."""

    def __init__(self):
        self.events = []

    def __enter__(self):
        self.events.append("enter")
        return self

    def __exit__(self, *exc):
        self.events.append("exit")
        return False


def returns_inside_with(x, scope):
    with scope:
        if x > 0:
            if x < 5:
                with scope:
                    return x
            else:
                return x * x
        else:
            return x * x * x
    return x * x * x * x  # unreachable: every path returned


def default_return_inside_with(x, scope):
    with scope:
        if x > 0:
            return 1
        return 0


def returns_in_try_and_finally(x):
    y = 0
    try:
        if x > 0:
            y = 1
            return y
        return -1
    finally:
        x = x + 1  # runs after the return, changes nothing returned


def finally_return_wins(x):
    try:
        if x > 0:
            return 10
        return 20
    finally:
        if x > 2:
            return 30  # noqa: B012 - overrides the try's return, as Python says
        if x < -2:
            return 40  # noqa: B012


def possibly_returns_before_a_loop(c1, c2, n):
    if c1:  # noqa: SIM102 - nested on purpose: a return two ifs deep
        if c2:
            return 1
    total = 0
    for i in range(n):
        total += i
    return total + 2


@settings(max_examples=15, deadline=None)
@given(hs.integers(-8, 8))
def test_returns_in_with_and_try_agree_with_python(x):
    for fn in (returns_inside_with, default_return_inside_with):
        oracle, static, traced = Scope(), Scope(), Scope()
        expect = fn(x, oracle)
        same(xf.function(fn)(x, static), expect)
        assert static.events == oracle.events  # a Python condition: Python's path
        same(xf.function(fn)(jnp.int32(x), traced), expect)
        # both branches are traced, so inner scopes may run too, but each one is left
        depth = 0
        for event in traced.events:
            depth += 1 if event == "enter" else -1
            assert depth >= 0
        assert depth == 0
    three_ways(returns_in_try_and_finally, x)
    three_ways(finally_return_wins, x)


@pytest.mark.parametrize("c1", [True, False])
@pytest.mark.parametrize("c2", [True, False])
def test_a_return_nested_in_ifs_before_a_loop(c1, c2):
    for n in (0, 1, 3):
        three_ways(possibly_returns_before_a_loop, c1, c2, n)


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


# -- type annotations (type_annotations_test.py) ------------------------------------------

def declared_only():
    count: int  # noqa: F842 - a declaration that binds nothing is the case
    return 1


def annotated_in_branches(x):
    y: float = x + 1
    if x > 0:
        y: float = y * 2  # an annotated assignment inside a converted block
    else:
        z: int  # a bare declaration inside one
        z = 3
        y = y - z
    return y


def declared_in_a_branch_only(c):
    if c:
        k: int  # makes k local to the function without binding it
    return k  # noqa: F821 - unbound on every path: Python raises UnboundLocalError


def test_annotations_bind_like_plain_assignments():
    three_ways(declared_only)
    for x in (-2.0, 0.5):
        three_ways(annotated_in_branches, x)


def test_a_bare_declaration_keeps_the_name_local():
    for c in (True, False):
        with pytest.raises(UnboundLocalError):
            declared_in_a_branch_only(c)
        with pytest.raises(UnboundLocalError, match="'k'"):
            xf.function(declared_in_a_branch_only)(c)


# -- generators (generator_test.py) -------------------------------------------------------

def yields_once():
    yield 1


def yields_in_a_for(n):
    for i in range(n):
        yield i * 3


def yields_in_a_while(n):
    i = 0
    while i < n:
        i += 1
        yield i


@pytest.mark.parametrize(("fn", "args"), [(yields_once, ()), (yields_in_a_for, ([],)),
                                          (yields_in_a_while, (jnp.int32(0),))])
def test_compiling_a_generator_is_not_implemented(fn, args):
    # TF raises NotImplementedError; xlaflow's error is also a ConversionError
    with pytest.raises(NotImplementedError, match=rf"the generator '{fn.__name__}'.*`yield` "
                                                  "has no XLA equivalent") as info:
        xf.function(fn)(*args)
    assert isinstance(info.value, xf.autograph.ConversionError)


def drains_a_generator(x):
    return sum(yields_in_a_for(4)) + x, list(yields_in_a_while(0))


def test_a_generator_called_from_compiled_code_runs_as_python():
    three_ways(drains_a_generator, 2)


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
        three_ways(fn, n)


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
