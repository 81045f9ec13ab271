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
