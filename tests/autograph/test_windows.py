"""Slices at a traced start whose size the bounds fix (`x[:, i:i+1]`, `x[t-w:t]`,
`x[i*k:(i+1)*k]`): TF slices them at run time; converted code reads a fixed-size window.
The oracle is NumPy slicing of the same values, the start a plain Python int."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax

import xlaflow as xf
from tests.autograph.test_no_overhead import count_eqns

ROW = np.arange(24, dtype=np.float32).reshape(2, 12)


def windows(x, i):
    return (x[:, i:i + 1], x[:, i - 1:i], x[0, i:i + 3], x[..., 2 + i:i + 4],
            x[None, :, i:i + 2], x[1, i * 2:(i + 1) * 2])


compiled_windows = xf.function(windows)  # one program, checked at every drawn start


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5))
def test_windows_at_a_traced_start_equal_numpy_slices(i):
    got = compiled_windows(jnp.asarray(ROW), jnp.int32(i))
    for g, e in zip(got, windows(ROW, i)):
        assert g.shape == e.shape
        np.testing.assert_array_equal(np.asarray(g), e)


# size: its xf.function, made once: one program per size, run at every drawn start (the
# check that a window leaves the axis happens when the program runs)
_sized = {}


@settings(max_examples=30, deadline=None)
@given(st.integers(-12, -2), st.integers(1, 2))
def test_negative_starts_count_from_the_end_as_python(start, size):
    f = _sized.setdefault(size, xf.function(lambda x, i: x[1, i:i + size]))
    if start + size > -1:
        with pytest.raises(IndexError, match="leaves the axis of 12"):
            f(jnp.asarray(ROW), jnp.int32(start))
    else:
        np.testing.assert_array_equal(f(jnp.asarray(ROW), jnp.int32(start)),
                                      ROW[1, start:start + size])


@pytest.mark.parametrize("start", [11, 12, 40, -13])
def test_a_window_leaving_the_axis_fails_when_it_runs_rather_than_reading_another(start):
    # TF returns fewer elements there; XLA's dynamic_slice would silently move the window.
    f = xf.function(lambda x, i: x[0, i:i + 2])
    with pytest.raises(IndexError, match=r"x\[0, i:i \+ 2\].*leaves the axis of 12"):
        f(jnp.asarray(ROW), jnp.int32(start))
    np.testing.assert_array_equal(f(jnp.asarray(ROW), jnp.int32(10)), ROW[0, 10:12])


def test_python_values_keep_python_slicing():
    def take(seq, i):
        return seq[i:i + 2], seq[i - 5:i]  # a list, a string: Python's own clamping

    assert xf.function(take)([1, 2, 3], 2) == ([3], [1, 2])
    assert xf.autograph.to_graph(take)("abcdef", 4) == ("ef", "")  # "abcdef"[-1:4]


def test_a_loop_summing_windows_is_the_hand_written_dynamic_slice_loop():
    def ag(x):
        total = xf.zeros((2, 3))
        for t in xf.range(x.shape[1] - 2):
            total += x[:, t:t + 3] * t
        return total

    def hand(x):
        return lax.fori_loop(0, x.shape[1] - 2, lambda t, total: total + lax.dynamic_slice_in_dim(
            x, t, 3, axis=1) * t, jnp.zeros((2, 3)))

    x = jnp.asarray(ROW)
    np.testing.assert_allclose(xf.function(ag)(x), hand(x))
    np.testing.assert_allclose(xf.function(ag)(x), sum(ROW[:, t:t + 3] * t for t in range(10)))
    # The counter provably stays in range: no run-time check (a cond per step), and no
    # wrapping of negative starts either, so no more equations than the hand-written loop.
    program = xf.function(ag).get_concrete_function(x).jaxpr
    assert "cond" not in str(program)
    assert count_eqns(program) <= count_eqns(jax.make_jaxpr(hand)(x))


def test_gradients_flow_through_a_window():
    def grad(x, i):
        with xf.GradientTape() as tape:
            tape.watch(x)
            loss = xf.reduce_sum(x[:, i:i + 2] ** 2)
        return tape.gradient(loss, x)

    x = jnp.asarray(ROW)
    got = xf.function(grad)(x, jnp.int32(3))
    expect = np.zeros_like(ROW)
    expect[:, 3:5] = 2 * ROW[:, 3:5]
    np.testing.assert_array_equal(got, expect)


def test_a_variable_and_a_numpy_array_slice_at_a_traced_start():
    v = xf.Variable(ROW)
    f = xf.function(lambda i: (v[1, i:i + 1], ROW[0, i:i + 2]))
    got = f(jnp.int32(4))
    np.testing.assert_array_equal(got[0], ROW[1, 4:5])
    np.testing.assert_array_equal(got[1], ROW[0, 4:6])


def test_a_size_that_depends_on_a_tensor_is_refused_with_what_to_write():
    f = xf.function(lambda x, i, n: x[0, i:i + n])
    with pytest.raises(TypeError, match=r"x\[0, i:i \+ n\].*size known when tracing"):
        f(jnp.asarray(ROW), jnp.int32(1), jnp.int32(2))


def test_a_window_larger_than_its_axis_is_refused_at_trace_time():
    f = xf.function(lambda x, i: x[:, i:i + 3])
    with pytest.raises(ValueError, match="window of 3 elements along an axis of 2"):
        f(jnp.asarray(ROW.T[:, :2]), jnp.int32(0))


def test_other_subscripts_are_left_as_written():
    def f(x, a, b):
        return x[a:b], x[1:3], x[a:2 * a]

    code = xf.autograph.to_code(f)
    assert "get_window" not in code
    assert xf.autograph.to_graph(f)(list(range(9)), 2, 5) == ([2, 3, 4], [1, 2], [2, 3])


def test_bounds_with_calls_are_left_as_written():
    # A call may differ between its two evaluations: only pure bounds are read as a window.
    code = xf.autograph.to_code(lambda x, f: x[f():f() + 1])
    assert "get_window" not in code
