"""Adversarial review of the moved `for` return (converters/loop_exits.py, _for_return):
cases where the converted function could differ from plain Python.

Oracle: the original function run by Python on NumPy values; for gradients, the derivative
known by hand. Each case also checks that the loop took the moved path (`loop_stop` in the
generated code), so a pass is not the flags path agreeing with Python by default.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from tests.autograph.conftest import _compare, _python

f32 = np.float32


def moved(fn):
    return "loop_stop" in xf.autograph.to_code(fn)


def check(fn, *args):
    """xf.function and jax.jit(to_graph) agree with Python on NumPy values."""
    expect = fn(*[_python(a) for a in args])
    traced = [jnp.asarray(a) for a in args]
    _compare(xf.function(fn)(*traced), expect)
    _compare(jax.jit(xf.autograph.to_graph(fn))(*traced), expect)


def repeated_target(x, y, t):
    for a, a in zip(x, y):  # noqa: B007 - Python binds `a` twice, the second wins
        if a > t:
            return a
    return -1.0


@pytest.mark.parametrize("t", [-10.0, 2.5, 100.0])
def test_a_target_naming_one_name_twice_converts(t):
    # The moved test was `lambda a, a: ...`: a SyntaxError at conversion.
    x, y = f32([1.0, 5.0, 2.0]), f32([3.0, 1.0, 4.0])
    assert moved(repeated_target)
    check(repeated_target, x, y, f32(t))
