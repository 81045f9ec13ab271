"""Review against Python semantics: constructs where the compiled function once computed
something other than the plain Python one (or failed without saying what to write).

Oracle: the same function run as plain Python on NumPy values; where Python itself raises,
the compiled function must raise too, with a message naming the variable and line.
"""

import inspect

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xlaflow as xf


def _line(fn, text):
    """The file line in `fn`'s source holding `text` (for asserting error locations)."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


# -- `del` inside a tensor-dependent block -----------------------------------------------

def deleted_in_branch(x):
    y = x * 2
    if x > 0:
        del y
    return y


def test_a_name_deleted_in_a_tensor_branch_is_not_silently_kept():
    # Python raises UnboundLocalError for x > 0; the compiled function used to return
    # x * 2 there (the `del` was not branch state). Now: the one-path NameError.
    with pytest.raises(UnboundLocalError):
        deleted_in_branch(np.float32(2.0))
    line = _line(deleted_in_branch, "if x > 0")
    for x in (2.0, -2.0):
        with pytest.raises(NameError, match=rf"test_review_semantics.py:{line}: 'y' has no "
                                            r"value on one path through this `if`"):
            xf.function(deleted_in_branch)(jnp.float32(x))


def deleted_and_rebound(x, v):
    y = x
    if x > 0:
        del y
        y = 3 * x
    s = 0.0
    for w in v:
        t = w * y
        s += t
        del t
    return y, s


def test_a_name_deleted_then_rebound_in_tensor_blocks_matches_python():
    v = np.float32([1, 2, 3])
    for x in (2.0, -2.0):
        expect = deleted_and_rebound(np.float32(x), v)
        got = xf.function(deleted_and_rebound)(jnp.float32(x), jnp.asarray(v))
        np.testing.assert_allclose([float(g) for g in got], [float(e) for e in expect])


# -- chained comparisons whose middle operands are expressions ----------------------------

def in_window(x, y):
    if 0 < x + 1 < y * 2 <= 10:
        return x
    return -x


def ordered(x):
    return 0 < x[0] < x[1] > x[2], x[0] != x[1] != x[2] == x[2]


compiled_in_window, compiled_ordered = xf.function(in_window), xf.function(ordered)


@settings(max_examples=40, deadline=None)
@given(x=st.integers(-3, 8).map(np.float32), y=st.integers(-2, 7).map(np.float32))
def test_a_chain_with_expression_operands_matches_python(x, y):
    assert float(compiled_in_window(jnp.float32(x), jnp.float32(y))) == float(in_window(x, y))


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float32, 3, elements=st.integers(-2, 2).map(float)))
def test_a_chain_with_subscript_operands_matches_python(x):
    got = compiled_ordered(jnp.asarray(x))
    assert [bool(g) for g in got] == [bool(e) for e in ordered(x)]


def test_a_chain_evaluates_each_operand_once_and_stops_on_a_python_false():
    calls = []

    def scaled(x):
        calls.append(x)
        return x * 2

    def never(x):
        raise AssertionError("evaluated after a false comparison")

    def f(x, lo):
        inside = lo < scaled(x) < 10.0
        skipped = 1 > len(calls) < never(x)  # Python values: stops at `1 > 1`
        return inside, skipped

    expect = f(np.float32(3.0), 0.0)
    assert len(calls) == 1
    calls.clear()
    got = xf.function(f)(jnp.float32(3.0), 0.0)
    assert len(calls) == 1  # one trace, one call: `scaled(x)` is not repeated
    assert [bool(g) for g in got] == [bool(e) for e in expect] == [True, False]


# -- comprehension `if` clauses ---------------------------------------------------------

def kept(x):
    return [v for v in x if v > 1]


def counted(x):
    total = 0.0
    for row in x:
        total += sum(v for v in row if v > 2)
    return total


def python_filters(x):
    odd = [x * k for k in range(5) if k % 2]
    named = {k: x + k for k in (1, 2, 3) if (m := k) != 2}
    return sum(odd), named, m


@pytest.mark.parametrize("fn, kind, marker", [
    (kept, "list comprehension", "if v > 1"),
    (counted, "generator expression", "if v > 2"),
])
def test_a_comprehension_filtering_on_a_tensor_says_to_select(fn, kind, marker):
    # Python keeps a data-dependent number of items; XLA cannot. JAX's own error here
    # (TracerBoolConversionError) said nothing about what to write instead.
    line = _line(fn, marker)
    with pytest.raises(NotImplementedError, match=rf"test_review_semantics.py:{line}: the `if` "
                                                  rf"clause of this {kind} tests a tensor.*"
                                                  r"jnp.where"):
        xf.function(fn)(jnp.ones((2, 3)))


def test_a_comprehension_filtering_on_python_values_runs_as_python():
    got = xf.function(python_filters)(jnp.float32(2.0))
    expect = python_filters(np.float32(2.0))
    assert float(got[0]) == float(expect[0]) == 8.0
    assert {k: float(v) for k, v in got[1].items()} == {k: float(v) for k, v in
                                                        expect[1].items()}
    assert got[2] == expect[2] == 3


# -- max / min / sorted with key= over tensors ------------------------------------------

def folded(v):
    if v > 2:  # a tensor `if` inside the key: the key function is converted too
        return -v
    return v


def chosen(x):
    return (max(x, key=lambda v: (v - 2) ** 2), min(x, key=folded),
            max(x[0], x[1], x[2], key=abs), sorted(x, key=folded),
            sorted(x, key=lambda v: v * v, reverse=True))


compiled_chosen = xf.function(chosen)  # one trace per shape across the examples


# The shortest (x[0], x[1], x[2] read) and a longer length: each length is a costly program
# (a converted key and its `if` per item), and the choice and sort do not depend on it.
@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float32, st.sampled_from([3, 6]),
                    elements=st.integers(-4, 4).map(float)))
def test_max_min_sorted_with_a_key_match_python_ties_included(x):
    # Python compares keys with `>`, which a traced key cannot decide: this used to be
    # JAX's TracerBoolConversionError. Ties keep Python's choice (first item; stable sort).
    got = compiled_chosen(jnp.asarray(x))
    expect = chosen(x)
    for g, e in zip(got[:3], expect[:3]):
        assert float(g) == float(e)
    for g, e in zip(got[3:], expect[3:]):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


def test_max_with_a_key_over_rows_and_its_errors():
    x = np.float32([[1, 5], [3, 7], [0, 2]])

    def by_second(x):
        return max(x, key=lambda r: r[1]), min(x[:0], key=lambda r: r[0], default=-1.0)

    got = xf.function(by_second)(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(got[0]), by_second(x)[0])
    assert float(got[1]) == by_second(x)[1] == -1.0

    def whole_rows(x):
        return max(x, key=lambda r: r)

    with pytest.raises(ValueError, match="ambiguous"):
        whole_rows(x)
    with pytest.raises(ValueError, match=r"max\(key=...\) got a key of shape \(2,\).*scalar"):
        xf.function(whole_rows)(jnp.asarray(x))


def nan_keyed(x):
    return max(x, key=lambda v: v * v), min(x, key=lambda v: v * v)


@pytest.mark.parametrize("values", [[1, np.nan, 2], [np.nan, 1, 2], [3, 1, np.nan, 0.5]])
def test_max_and_min_with_nan_keys_choose_as_python(values):
    # Python keeps the best key so far and replaces it only when `>` (`<`) holds, which a
    # NaN never does: a NaN is chosen only as the first item. jnp.argmax alone picks NaN.
    x = np.float32(values)
    got = xf.function(nan_keyed)(jnp.asarray(x))
    expect = nan_keyed(x)
    for g, e in zip(got, expect):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


# -- `and` / `or` between a tensor and a non-numeric operand ----------------------------

def pair_if_positive(x, a, b):
    return x > 0 and (a, b)


def test_and_or_with_a_container_operand_is_refused_not_stacked():
    # Python returns the tuple itself; the select used to stack it into one array.
    assert pair_if_positive(np.float32(2.0), 1.0, 3.0) == (1.0, 3.0)
    line = _line(pair_if_positive, "return x > 0 and")
    with pytest.raises(TypeError, match=rf"test_review_semantics.py:{line}: a tensor decides "
                                        r"this `and`/`or`.*one operand is a tuple"):
        xf.function(pair_if_positive)(jnp.float32(2.0), jnp.float32(1.0), jnp.float32(3.0))
    with pytest.raises(TypeError, match="one operand is a NoneType"):
        xf.function(lambda x: x or None)(jnp.float32(2.0))


def test_and_or_between_tensors_numbers_and_variables_still_select():
    v = xf.Variable(2.0)

    def f(x):
        return (x > 0 and v), (x or 2.5), (x and np.float32(4.0))

    for x in (1.0, 0.0, -1.0):
        got = xf.function(f)(jnp.float32(x))
        expect = (x > 0 and 2.0), (x or 2.5), (x and 4.0)
        assert [float(g) for g in got] == [float(e) for e in expect]


def _function_leaving_a_loop(x):
    for v in x:
        get = lambda: v  # noqa: B023 - the case: a function made in a tensor loop
    return get()


def test_a_function_leaving_a_tensor_loop_is_named_as_the_user_wrote_it():
    line = inspect.getsourcelines(_function_leaving_a_loop)[1] + 2
    with pytest.raises(TypeError) as info:
        xf.function(_function_leaving_a_loop)(jnp.arange(3.0))
    message = str(info.value)
    assert f"'get' holds a function (<lambda> from line {line})" in message
    assert "__xf_autograph" not in message
