"""tf.debugging assertions: concrete values fail at once, traced ones when the compiled
program runs, both as tf.errors.InvalidArgumentError; Python's comparisons are the oracle."""

import numpy as np
import pytest

import xlaflow as xf

CASES = [
    ("assert_equal", np.equal), ("assert_none_equal", np.not_equal),
    ("assert_less", np.less), ("assert_less_equal", np.less_equal),
    ("assert_greater", np.greater), ("assert_greater_equal", np.greater_equal),
]
PAIRS = [(np.array([1, 2, 3]), np.array([1, 2, 3])), (np.array([1, 2, 3]), 2),
         (np.array([0, 0]), np.array([1, 1])), (np.array([5.0]), np.array([4.0]))]


@pytest.mark.parametrize("name, oracle", CASES)
def test_binary_assertions_eager_and_compiled_match_numpy(name, oracle):
    assertion = getattr(xf.debugging, name)

    @xf.function
    def checked(x, y):
        assertion(x, y, message="custom text")
        return x + 0

    for x, y in PAIRS:
        holds = bool(np.all(oracle(x, y)))
        for run, args in ((assertion, (x, y)), (checked, (xf.constant(x), xf.constant(y)))):
            if holds:
                run(*args, message="custom text") if run is assertion else run(*args)
            else:
                with pytest.raises(xf.errors.InvalidArgumentError, match="custom text"):
                    run(*args, message="custom text") if run is assertion else run(*args)


def test_unary_assertions_and_assert_near():
    xf.debugging.assert_positive([1, 2])
    xf.debugging.assert_non_negative([0, 2])
    xf.debugging.assert_negative([-1.0])
    xf.debugging.assert_non_positive([0, -3])
    with pytest.raises(xf.errors.InvalidArgumentError, match="x > 0"):
        xf.debugging.assert_positive([1, 0])
    with pytest.raises(xf.errors.InvalidArgumentError, match="x >= 0"):
        xf.debugging.assert_non_negative(np.array([-1e-3]))
    xf.debugging.assert_near(np.float32(1.0), np.float32(1.0) + 1e-7)
    with pytest.raises(xf.errors.InvalidArgumentError, match="tolerance"):
        xf.debugging.assert_near([1.0, 2.0], [1.0, 2.1], atol=0.05, rtol=0.0)
    xf.debugging.assert_near([1.0, 2.0], [1.0, 2.1], atol=0.11, rtol=0.0)


def test_a_failing_check_inside_xf_function_writes_back_no_variable():
    v = xf.Variable(1.0)

    @xf.function
    def step(x):
        v.assign_add(x)
        xf.debugging.assert_all_finite(x, "x must be finite")
        xf.debugging.Assert(x < 10.0, [x])
        return v

    step(xf.constant(2.0))
    assert float(v.numpy()) == 3.0
    with pytest.raises(xf.errors.InvalidArgumentError, match="x must be finite"):
        step(xf.constant(np.inf))
    with pytest.raises(xf.errors.InvalidArgumentError, match="assertion failed"):
        step(xf.constant(20.0))
    assert float(v.numpy()) == 3.0
    np.testing.assert_array_equal(xf.debugging.check_numerics(np.ones(2), "ok"), [1, 1])


def test_static_rank_and_type_checks_raise_at_once():
    xf.debugging.assert_rank(np.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match="rank 3. Received rank 2"):
        xf.debugging.assert_rank(np.zeros((2, 3)), 3)
    xf.debugging.assert_type(xf.constant(1.0), xf.float32)
    with pytest.raises(TypeError, match="int32"):
        xf.debugging.assert_type(xf.constant(1.0), xf.int32)
    with pytest.raises(ValueError, match="do not broadcast"):
        xf.debugging.assert_equal(np.zeros(2), np.zeros(3))
    assert issubclass(xf.errors.InvalidArgumentError, xf.errors.OpError)


def test_tf2_top_level_assertion_aliases_are_the_debugging_functions():
    # TF 2 keeps tf.Assert, tf.assert_equal/greater/less/rank at the top level as well
    for name in ("Assert", "assert_equal", "assert_greater", "assert_less", "assert_rank"):
        assert getattr(xf, name) is getattr(xf.debugging, name)
    xf.assert_less(np.float32([1.0, 2.0]), np.float32(3.0))  # holds: returns quietly
    with pytest.raises(xf.errors.InvalidArgumentError):
        xf.assert_equal(np.int32([1, 2]), np.int32([1, 3]))
    assert not hasattr(xf, "assert_everything")


def _message(run, *args, **kwargs):
    with pytest.raises(xf.errors.InvalidArgumentError) as caught:
        run(*args, **kwargs)
    return str(caught.value)


def test_summarize_limits_the_entries_in_the_message_eager_and_compiled():
    # TF: the first `summarize` (default 3; negative: all) failing and leading entries of
    # x and y; NumPy's argwhere and slicing give the expected text
    x = np.arange(10, dtype=np.int32)
    y = x.copy()
    y[[2, 5, 7, 9]] = -1
    failing = np.argwhere(x != y)

    @xf.function
    def compiled(a, b, summarize):
        xf.debugging.assert_equal(a, b, summarize=summarize)
        return a

    for summarize, count in ((None, 3), (1, 1), (-1, 10)):
        shown = min(count, len(failing))
        expected = "\n".join([
            "Condition x == y did not hold.",
            f"Indices of first {shown} different values:", str(failing[:shown]),
            "Corresponding x values:", str(x[x != y][:shown]),
            "Corresponding y values:", str(y[x != y][:shown]),
            f"First {count} elements of x:", str(x[:count]),
            f"First {count} elements of y:", str(y[:count])])
        assert _message(xf.debugging.assert_equal, x, y, summarize=summarize) == expected
        assert _message(compiled, xf.constant(x), xf.constant(y), summarize) == expected
    assert _message(xf.debugging.assert_equal, x, y, summarize=0) == (
        "Condition x == y did not hold.")
    assert _message(xf.debugging.assert_positive, x, summarize=2).endswith(
        "x (shape=(10,) dtype=int32) = \n['0', '1', '...']")
    near = _message(xf.debugging.assert_near, np.ones(4, np.float32),
                    np.zeros(4, np.float32), summarize=-1)
    assert near.endswith("['0.0', '0.0', '0.0', '0.0']")
    with pytest.raises(TypeError, match="summarize must be an int.*'3'"):
        xf.debugging.assert_less(x, y, summarize="3")


def test_assert_shows_its_data_at_run_time_summarized():
    # TF's Assert prints each data item's first `summarize` entries, joined by ", "
    @xf.function
    def checked(a):
        xf.debugging.Assert(a[0] > 5, ["a is", a], summarize=4)
        return a

    text = _message(checked, xf.constant(np.arange(10, dtype=np.int32)))
    assert text.endswith("a is\n0, 1, 2, 3, ...")
    text = _message(xf.debugging.Assert, False, [np.arange(3)], summarize=-1)
    assert text.endswith("\n0, 1, 2")
