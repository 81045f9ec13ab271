"""Run-time checks at the top level of an xf.function are outputs of its program, read after
the call, not host callbacks: the program keeps JAX's C++ dispatch, and a failing check still
raises the user's error before any Variable is written back."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def _has_callback(fn, *args):
    return "callback" in fn.lower(*args).as_text()


def test_a_top_level_assert_adds_no_callback_and_still_raises():
    @xf.function
    def f(x):
        assert xf.reduce_all(x > 0), "x must be positive"
        return x * 2

    x = jnp.ones(3)
    np.testing.assert_allclose(f(x), 2 * np.ones(3))
    assert not _has_callback(f, x)
    with pytest.raises(AssertionError, match="x must be positive"):
        f(-x)
    np.testing.assert_allclose(f(x), 2 * np.ones(3))  # a failure leaves nothing behind


def test_a_check_inside_a_tensor_loop_keeps_its_callback():
    @xf.function
    def g(x):
        total = 0.0
        for v in x:
            assert v < 10, "too big"
            total += v
        return total

    x = jnp.arange(3.0)
    assert _has_callback(g, x)
    np.testing.assert_allclose(g(x), 3.0)
    with pytest.raises(AssertionError, match="too big"):
        g(jnp.array([1.0, 20.0]))


def test_the_first_failing_check_in_program_order_raises_and_variables_stay():
    v = xf.Variable(1.0)

    @xf.function
    def h(x):
        v.assign_add(1.0)
        assert x > 0, "first"
        assert x > 5, "second"
        return v * x

    with pytest.raises(AssertionError, match="first"):
        h(xf.constant(-1.0))
    with pytest.raises(AssertionError, match="second"):
        h(xf.constant(1.0))
    assert float(v) == 1.0  # neither failed call wrote the Variable back
    np.testing.assert_allclose(h(xf.constant(6.0)), 12.0)
    assert float(v) == 2.0


def test_a_failing_check_shows_its_run_time_values():
    @xf.function
    def k(x, y):
        xf.debugging.assert_equal(x, y, message="mismatch")
        return x + y

    with pytest.raises(xf.errors.InvalidArgumentError, match=r"mismatch"):
        k(xf.constant([1, 2]), xf.constant([1, 3]))
    np.testing.assert_array_equal(k(xf.constant([1, 2]), xf.constant([1, 2])), [2, 4])


def test_a_failed_top_level_check_stops_before_a_later_loop_check():
    # TF stops at the first failing op: a check in a loop after a failed top-level assert
    # never runs, and one before it fails first
    @xf.function
    def top_then_loop(x):
        assert xf.reduce_all(x > 0), "top first"
        total = 0.0
        for v in x:
            assert v < 10, "loop second"
            total += v
        return total

    @xf.function
    def loop_then_top(x):
        total = 0.0
        for v in x:
            assert v < 10, "loop first"
            total += v
        assert xf.reduce_all(x > 0), "top second"
        return total

    both_fail = jnp.array([-1.0, 20.0])
    with pytest.raises(AssertionError, match="top first"):
        top_then_loop(both_fail)
    with pytest.raises(AssertionError, match="loop first"):
        loop_then_top(both_fail)
    with pytest.raises(AssertionError, match="top second"):
        loop_then_top(jnp.array([-1.0, 2.0]))
    np.testing.assert_allclose(top_then_loop(jnp.array([1.0, 2.0])), 3.0)


def test_structured_outputs_of_a_function_with_a_check_are_its_own():
    v = xf.Variable(1.0)

    @xf.function(input_signature=[xf.TensorSpec([None], xf.float32)])
    def f(x):
        assert xf.reduce_all(x > 0), "positive"
        return {"sum": xf.reduce_sum(x) * v, "x": x}

    out = f.get_concrete_function().structured_outputs
    assert out == {"sum": xf.TensorSpec([], xf.float32), "x": xf.TensorSpec([None], xf.float32)}


def test_a_py_function_after_a_failing_check_does_not_run():
    # TF stops at the failing op: the Python function after it never runs. A check that is
    # a program output is seen only after the run, so such a trace keeps callback checks.
    ran = []

    def record(x):
        ran.append(float(x))
        return x

    @xf.function
    def f(x):
        assert x > 0, "x must be positive"
        return xf.py_function(record, [x], xf.TensorSpec([], xf.float32))

    np.testing.assert_allclose(f(xf.constant(2.0)), 2.0)
    with pytest.raises(AssertionError, match="x must be positive"):
        f(xf.constant(-1.0))
    assert ran == [2.0]


def test_a_print_after_a_failing_check_does_not_print(capfd):
    @xf.function
    def f(x):
        assert x > 0, "x must be positive"
        xf.print("after the check:", x)
        return x

    f(xf.constant(2.0))
    with pytest.raises(AssertionError, match="x must be positive"):
        f(xf.constant(-1.0))
    err = capfd.readouterr().err
    assert "after the check: 2" in err and "-1" not in err
