"""Adversarial review of the moved `for` return (converters/loop_exits.py, _for_return):
cases where the converted function could differ from plain Python.

Oracle: the original function run by Python on NumPy values; for gradients, the derivative
known by hand. Each case also checks that the loop took the moved path (`loop_stop` in the
generated code), so a pass is not the flags path agreeing with Python by default.
"""

import re

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
    """xf.function and jax.jit(to_graph) agree with Python on NumPy values; where Python
    reads an unbound name, both raise an error naming it."""
    traced = [jnp.asarray(a) for a in args]
    try:
        expect = fn(*[_python(a) for a in args])
    except NameError as error:  # UnboundLocalError included
        unbound = re.search(r"'(\w+)'", str(error)).group(0)
        for compiled in (xf.function(fn), jax.jit(xf.autograph.to_graph(fn))):
            with pytest.raises(Exception, match=unbound):
                compiled(*traced)
        return
    _compare(xf.function(fn)(*traced), expect)
    _compare(jax.jit(xf.autograph.to_graph(fn))(*traced), expect)


def repeated_target(x, y, t):
    for a, a in zip(x, y):  # Python binds `a` twice: the second wins
        if a > t:
            return a
    return -1.0


@pytest.mark.parametrize("t", [-10.0, 2.5, 100.0])
def test_a_target_naming_one_name_twice_converts(t):
    # The moved test was `lambda a, a: ...`: a SyntaxError at conversion.
    x, y = f32([1.0, 5.0, 2.0]), f32([3.0, 1.0, 4.0])
    assert moved(repeated_target)
    check(repeated_target, x, y, f32(t))


# -- what the review probed that agrees with Python (kept so a later change cannot break it)


def exit_reads_target(x, t):
    for v in x:
        if v > t:
            w = v * 2.0  # a statement before the return reads the target
            return w + v
    return -1.0


def exit_reads_state(x, t):
    acc = 0.0
    for v in x:
        if v > t:
            return acc  # the state before the stopping iteration's rest ran
        acc = acc + v
    return acc + 100.0


def enumerate_from(x, t):
    for i, v in enumerate(x, start=3):
        if v > t:
            return i
    return -1


def zip_unequal(x, y, t):
    for a, b in zip(x, y):  # y is shorter: zip stops with it
        if a + b > t:
            return a * b
    return a - b  # the last pair, read after the loop


def target_rebound(x, t):
    for v in x:
        if v > t:
            return v  # the element: the rest's rebinding happens after the test
        v = v * 2.0
    return v


def target_shadows(x, t):
    v = 7.0
    for v in x:
        if v > t:
            return v
    return v  # 7.0 for an empty input


def inner_moved(x, t):
    out = 0.0
    for r in x:
        for v in r:
            if v > t:
                return v
        out = out + v  # the inner target after the inner loop: the row's last
    return out


def both_moved(x, t):
    for r in x:
        if r[0] > t:
            return r[1]
        for v in r:
            if v > t + 1.0:
                return v * 10.0
    return -1.0


def in_nested_def(x, t):
    def first(y):
        for v in y:
            if v > t:
                return v
        return t

    return first(x) + first(x * 2.0)


def closure_in_exit(x, t):
    for v in x:
        if v > t:
            f = lambda: v + 1.0  # noqa: B023 - called before the loop moves on
            return f()
    return 0.0


def closure_before_loop(x, t):
    v = 0.0
    get = lambda: v * 3.0  # reads the target late: after the loop binds it
    for v in x:
        if v > t:
            return get()
    return get() + 1.0


def continue_in_rest(x, t):
    s = 0.0
    for v in x:
        if v > t:
            return s
        if v < 1.5:
            continue
        s = s + v
    return -s


def flag_first(x, t):
    for v in x:
        if t > 5.0:  # does not read the target: stops on the first element, if any
            return -1.0
        t = t + v
    return t


vectors = [f32([1.0, 5.0, 2.0]), f32([]), f32([9.0]), f32([2.0, 1.0])]
thresholds = [f32(-10.0), f32(1.5), f32(4.0), f32(100.0)]
vector_fns = [exit_reads_target, exit_reads_state, enumerate_from, target_rebound,
              target_shadows, in_nested_def, closure_in_exit, closure_before_loop,
              continue_in_rest, flag_first]


@pytest.mark.parametrize("fn", vector_fns, ids=lambda f: f.__name__)
def test_vector_loops_agree_with_python(fn):
    assert moved(fn)
    for x in vectors:
        for t in thresholds:
            check(fn, x, t)


def test_zip_of_unequal_lengths_agrees_with_python():
    assert moved(zip_unequal)
    for x in vectors:  # the empty input leaves `a` unbound in Python
        for t in thresholds:
            check(zip_unequal, x, f32([7.0, 8.0]), t)


@pytest.mark.parametrize("fn", [inner_moved, both_moved], ids=lambda f: f.__name__)
def test_rows_and_nested_loops_agree_with_python(fn):
    assert moved(fn)
    rows = f32([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    for t in (-10.0, 0.5, 2.5, 3.5, 4.5, 100.0):
        check(fn, rows, f32(t))


def stepped(a, b, s, t):
    for i in range(a, b, s):
        if i * i > t:
            return i
    return i - 1000  # the last value when nothing stopped it


@pytest.mark.parametrize("a,b,s", [(0, 5, 1), (5, -3, -2), (10, 0, -3), (0, 10, 4)])
def test_tensor_ranges_with_negative_steps_agree_with_python(a, b, s):
    assert moved(stepped)
    for t in (-1, 5, 1000):
        check(stepped, np.int32(a), np.int32(b), np.int32(s), np.int32(t))


def test_a_different_structure_on_the_fall_through_is_a_clear_error():
    def pair_or_one(x, t):
        for v in x:
            if v > t:
                return v, v
        return v

    assert moved(pair_or_one)
    with pytest.raises(TypeError, match="returns .* on one path of this tensor `if`"):
        xf.function(pair_or_one)(jnp.float32([1.0, 2.0]), jnp.float32(0.0))


def squared_first_above(x, t):
    for v in x:
        if v > t:
            return v * v
    return 0.0


@pytest.mark.parametrize("t,expect", [(0.5, [2.0, 0.0, 0.0]), (3.0, [0.0, 10.0, 0.0]),
                                      (9.0, [0.0, 0.0, 0.0])])
def test_the_gradient_is_that_of_the_element_it_stopped_on(t, expect):
    # d(v*v)/dx is 2 x[k] at the stopping index k, 0 elsewhere (0 everywhere for the
    # constant fall-through); the loop carries only its index, so reverse mode works
    x = jnp.float32([1.0, 5.0, 2.0])
    grad = jax.grad(xf.autograph.to_graph(squared_first_above))(x, jnp.float32(t))
    np.testing.assert_allclose(np.asarray(grad), expect)


def test_vmap_over_inputs_and_thresholds_agrees_with_python():
    rows = f32([[1.0, 5.0, 2.0], [0.0, 0.0, 0.0], [9.0, 1.0, 1.0]])
    ts = f32([0.0, 3.0, 9.0])
    graph = xf.autograph.to_graph(exit_reads_state)
    got = jax.vmap(graph, (0, None))(jnp.asarray(rows), jnp.float32(3.0))
    np.testing.assert_allclose(np.asarray(got), [exit_reads_state(r, f32(3.0)) for r in rows])
    got = jax.vmap(graph, (None, 0))(jnp.asarray(rows[0]), jnp.asarray(ts))
    np.testing.assert_allclose(np.asarray(got), [exit_reads_state(rows[0], t) for t in ts])
