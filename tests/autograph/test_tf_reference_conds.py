"""The constructs of TF's AutoGraph reference programs for conditionals, returns and calls.

Each program runs as plain Python on Python/NumPy values (the oracle), then under xf.function
with jax arrays (a tensor decides: lax control flow) and with the Python values (decided at
trace time). Where TF refuses a construct, xlaflow raises at trace time naming the variable
and the line, or, where it supports more, must agree with Python.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def _tensor(value):
    if isinstance(value, (bool, int, float, list, np.ndarray, np.generic)):
        return jnp.asarray(value)
    return value  # callables, types, Variables: passed as they are


def _same(got, expect):
    got_leaves, got_tree = jax.tree_util.tree_flatten(got)
    exp_leaves, exp_tree = jax.tree_util.tree_flatten(expect)
    assert got_tree == exp_tree, (got, expect)
    for g, e in zip(got_leaves, exp_leaves):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-6)


def three_ways(fn, *args, static=True):
    """fn under xf.function, on tensors and (if `static`) on the Python values, equals fn."""
    expect = fn(*args)
    compiled = xf.function(fn)
    _same(compiled(*map(_tensor, args)), expect)
    if static:
        _same(compiled(*args), expect)
    return expect


def line_of(fn, text):
    """`file.py:N` of the first line of `fn` that contains `text`."""
    lines, first = inspect.getsourcelines(fn)
    offset = next(i for i, line in enumerate(lines) if text in line)
    return rf"test_tf_reference_conds.py:{first + offset}\b"


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
