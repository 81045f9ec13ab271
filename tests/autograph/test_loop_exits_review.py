"""Inputs on which hoisting a loop's leading exit (converters/loop_exits.py) once changed
what the program does; each case compares with the plain Python function.

Oracle: the original function run by Python (on NumPy or Python values), and for traced
runs the same function compiled by xf.function on jnp arrays.
"""

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


@settings(max_examples=25, deadline=None)
@given(hs.lists(hs.integers(-8, 8), min_size=0, max_size=7).map(lambda v: np.float32(v)),
       hs.integers(-10, 12).map(np.float32))
def test_hoisted_exits_agree_with_python_drawn(x, limit):
    expect = hoisted_mix(x, limit)
    assert _calls_on_graph(hoisted_mix, x, limit) == expect
    got = xf.function(hoisted_mix)(jnp.asarray(x), jnp.asarray(limit))
    np.testing.assert_allclose(np.asarray(got, dtype=np.float32),
                               np.asarray(expect, dtype=np.float32))
