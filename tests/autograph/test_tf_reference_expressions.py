"""TF's AutoGraph reference programs for expressions: conditional expressions, logical
chains and comparisons, `assert`, and extended slices.

Each program runs as plain Python on Python/NumPy values (the oracle), then under xf.function
on jax arrays and on the Python values (tests/autograph/reference_programs.py).
"""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import xlaflow as xf
from tests.autograph.reference_programs import line_of, three_ways

# -- conditional expressions (basic_ifexp_test.py) ----------------------------------------

def chained_choices(x):
    if x > 0:
        x = -x if x < 6 else x
    else:
        x = -3 * x if x < 6 else 2
    if x > 0:
        x = -x if x < 6 else x + 1
    else:
        x = (4 * x) if x < 6 else x
    return x


def three_choices(x):
    if x > 0:
        x = -x if x < 6 else x
        y = 3 * x if x < 6 else x
        z = -y if y < 6 else y
    else:
        x = 3 * x if x < 6 else x
        y = -x if x < 6 else x
        z = -y if y < 6 else y
    return x, y, z


@settings(max_examples=20, deadline=None)
@given(hs.integers(-9, 9))
def test_conditional_expressions_inside_ifs(x):
    three_ways(chained_choices, x, drawn=True)
    three_ways(three_choices, x, drawn=True)


def rows_or_nothing(x):
    rows = list(x) if x.shape[0] > 0 else []  # a shape: known while tracing
    return x * 2 + 1, rows


def rows_or_nothing_by_value(x):
    rows = [x] if x.sum() > 0 else []  # a tensor decides: one structure per branch needed
    return rows


def test_a_conditional_expression_on_a_shape_may_differ_in_structure():
    for x in (np.float32([1.0, 2.0]), np.zeros((0,), np.float32)):
        three_ways(rows_or_nothing, x, static=False)


def test_a_tensor_conditional_expression_needs_one_structure():
    # TF: "must return the same nested structure in both branches"
    with pytest.raises(TypeError, match=line_of(rows_or_nothing_by_value, "rows = [x]") +
                       ": the two values of this conditional expression differ"):
        xf.function(rows_or_nothing_by_value)(jnp.ones(1))


# -- logical expressions (logical_expression_test.py) -------------------------------------

def any_of_three_lazily(x, y, z):
    last = lambda: z  # the callable in the chain is the case
    return x or y or last()


def any_of_three(x, y, z):
    return x or y or z


def all_of_three(x, y, z):
    return x and y and z


def or_then_ands(x, y, z):
    return x or y or z and y and z


def equal(x, y):
    return x == y


def unequal(x, y):
    return x != y


def all_equal(x, y, z):
    return x == y == z


def ascending(x, y, z):
    return x < y and y < z  # noqa: PLR1716 - two comparisons joined by `and` are the case


BOOLS = list(itertools.product([False, True], repeat=3))


@pytest.mark.parametrize("fn", [any_of_three_lazily, any_of_three, all_of_three,
                                or_then_ands])
def test_chains_of_and_or(fn):
    for args in BOOLS:
        three_ways(fn, *args)


@pytest.mark.parametrize("values", list(itertools.permutations([1, 2, 3])) + [
    (1, 1, 2), (2, 2, 2), (-1, -1, 3)])
def test_comparisons_and_equality(values):
    three_ways(ascending, *values)
    three_ways(all_equal, *values)
    three_ways(equal, *values[:2])
    three_ways(unequal, *values[:2])


# -- assert (assertion_test.py) -----------------------------------------------------------

def positive(x):
    assert x > 0
    return x


def test_an_assert_passes_through_and_fails_where_python_does():
    three_ways(positive, 3)
    with pytest.raises(AssertionError):
        xf.function(positive)(0)  # a Python value: checked while tracing
    # a tensor: checked when the program runs; the error names the line (TF: an
    # InvalidArgumentError from its Assert op)
    with pytest.raises(AssertionError, match=line_of(positive, "assert x > 0")):
        xf.function(positive)(jnp.int32(0))


# -- extended slices (ext_slice_test.py) --------------------------------------------------

def rows_and_columns(n):
    return n[:, :], n[1, :], n[:, 2], n[::-1, 1:], n[..., 0]


def pairwise_differences(n):
    return n[:, None] - n[None, :]


def sliced_result(f, n):
    return f(n)[:, np.newaxis] - f(n)[np.newaxis, :]


def test_extended_slices_and_new_axes():
    grid = np.arange(12, dtype=np.float32).reshape(3, 4)
    three_ways(rows_and_columns, grid, static=False)
    three_ways(pairwise_differences, np.float32([1.0, 4.0, 9.0]), static=False)
    three_ways(sliced_result, lambda v: v * 2, np.float32([1.0, 4.0]), static=False)
