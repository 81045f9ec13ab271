"""Adversarial review of the moved `for` break (converters/loop_exits.py, _for_candidate):
cases where the converted function could differ from plain Python.

Oracle: the original function run by Python on NumPy values (helpers shared with the
return review); for gradients, the derivative known by hand; for dtypes, JAX's promotion
of the values joined. Cases that take the moved path assert it (`loop_stop` in the code).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from tests.autograph.test_for_return_review import check, moved

f32, i32 = np.float32, np.int32
vectors = [f32([1.0, 5.0, 2.0]), f32([]), f32([9.0]), f32([2.0, 1.0])]
thresholds = [f32(-10.0), f32(1.5), f32(4.0), f32(100.0)]
matrices = [f32([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), f32([[9.0, 1.0]]),
            f32([[2.0, 1.0], [0.0, 7.0]])]
row_thresholds = [f32(-10.0), f32(0.5), f32(1.5), f32(2.5), f32(100.0)]


# -- differences found: a jump in a nested loop's `else:` belongs to the enclosing loop


def break_in_inner_else(m, t):
    s = 0.0
    for r in m:
        if r[0] > t:
            s = s + 1000.0
            break
        for v in r:
            s = s + v
            if s > 100.0:
                break
        else:
            break  # the outer loop's second break: the inner loop ran to its end
    else:
        s = -s  # Python skips it whenever either break ended the loop
    return s


def return_and_break_in_inner_else(m, t):
    s = 0.0
    for r in m:
        if r[0] > t:
            return s + 1000.0
        for v in r:
            s = s + v
            if s > 100.0:
                break
        else:
            break
    else:
        s = -s
    return s


def while_break_in_inner_else(m, t):
    s = 0.0
    i = 0
    while i < m.shape[0]:
        if m[i, 0] > t:
            s = s + 1000.0  # runs only when this test ended the loop
            break
        for v in m[i]:
            s = s + v
            if s > 100.0:
                break
        else:
            break
        i += 1
    return s


def continue_in_inner_else_before(m, t):
    s = 0.0
    for r in m:
        if r[0] > t:
            for v in r:
                s = s + v
                if s > 100.0:
                    break
            else:
                continue  # the outer loop's: moved after it, a SyntaxError
            break
        s = s + 1.0
    return s


def break_in_inner_else_before(m, t):
    s = 0.0
    for r in m:
        if r[0] > t:
            for v in r:
                s = s + v
                if s > 100.0:
                    break
            else:
                break
            s = s + 1000.0
            break
        s = s + 1.0
    return s


@pytest.mark.parametrize("fn", [break_in_inner_else, return_and_break_in_inner_else,
                                while_break_in_inner_else, continue_in_inner_else_before,
                                break_in_inner_else_before], ids=lambda f: f.__name__)
def test_a_jump_in_an_inner_loops_else_is_the_outer_loops(fn):
    for m in matrices:
        for t in row_thresholds:
            check(fn, m, t)
