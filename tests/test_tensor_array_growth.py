"""A dynamic_size TensorArray written in a compiled loop whose trip count is known when
tracing grows by it before the loop and carries TF's size (the elements written): TF's
idioms give TF's values (the NumPy oracle is what TF's eager run gives), and a result that
XLA's static shapes cannot give fails when the program runs, saying what to do."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import xlaflow as xf
from tests.autograph.test_no_overhead import count_eqns

X = np.arange(8, dtype=np.float32).reshape(4, 2)


def f(v):
    return xf.sin(v) * 2.0


def oracle(x):
    return np.sin(x) * 2.0


@xf.function
def by_shape(x):
    ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
    for i in xf.range(xf.shape(x)[0]):
        ta = ta.write(i, f(x[i]))
    return ta.stack(), ta.size(), ta.read(1), ta.gather([2, 0]), ta.concat()


@xf.function
def by_len(x):
    ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
    for i in xf.range(len(x)):
        ta = ta.write(i, f(x[i]))
    return ta.stack()


@xf.function
def appended(x):
    # TF's append idiom over a tensor's rows, after a first write made before the loop
    ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
    ta = ta.write(0, x[0])
    sizes = xf.TensorArray(xf.int32, size=0, dynamic_size=True, element_shape=())
    for v in x:
        sizes = sizes.write(sizes.size(), ta.size())  # TF's size inside the loop
        ta = ta.write(ta.size(), f(v))
    return ta.stack(), ta.size(), sizes.stack()


def test_tf_idioms_give_tf_values():
    stacked, size, row, gathered, joined = by_shape(X)
    want = oracle(X)
    np.testing.assert_allclose(stacked, want, rtol=1e-6)
    assert int(size) == 4
    np.testing.assert_allclose(row, want[1], rtol=1e-6)
    np.testing.assert_allclose(gathered, want[[2, 0]], rtol=1e-6)
    np.testing.assert_allclose(joined, want.reshape(-1), rtol=1e-6)
    np.testing.assert_allclose(by_len(X), want, rtol=1e-6)

    stacked, size, sizes = appended(X)
    np.testing.assert_allclose(stacked, np.concatenate([X[:1], want]), rtol=1e-6)
    assert int(size) == 5
    np.testing.assert_array_equal(sizes, [1, 2, 3, 4])


def test_two_loops_append_to_one_array():
    @xf.function
    def both(x, y):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for v in x:
            ta = ta.write(ta.size(), v)
        for v in y:
            ta = ta.write(ta.size(), v * 10.0)
        return ta.stack(), ta.size()

    y = np.ones((2, 2), np.float32)
    stacked, size = both(X, y)
    np.testing.assert_array_equal(stacked, np.concatenate([X, y * 10.0]))
    assert int(size) == 6


@settings(max_examples=8, deadline=None)
@given(hs.integers(0, 6), hs.integers(1, 3))
def test_any_length_including_none(n, width):
    x = np.linspace(-1.0, 1.0, n * width, dtype=np.float32).reshape(n, width)

    @xf.function
    def run(x):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for v in x:
            ta = ta.write(ta.size(), f(v))
        # a write at the counter, with the element shape given: x[i] of no rows cannot be
        # traced, so it alone tells the element shape of a loop that never runs
        tb = xf.TensorArray(xf.float32, size=0, dynamic_size=True, element_shape=[width])
        for i in xf.range(xf.shape(x)[0]):
            tb = tb.write(i, f(x[i]))
        return ta.stack(), ta.size(), tb.stack()

    stacked, size, by_index = run(x)
    assert stacked.shape == (n, width) and int(size) == n
    np.testing.assert_allclose(stacked, oracle(x), rtol=1e-6)
    np.testing.assert_allclose(by_index, oracle(x), rtol=1e-6)


@xf.function
def positives(x):
    ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True, name="kept")
    for v in x:
        if v[0] > 0:
            ta = ta.write(ta.size(), v)
    return ta.stack()


def test_a_conditional_write_fails_when_the_program_runs():
    np.testing.assert_array_equal(positives(X + 1.0), X + 1.0)  # every iteration wrote
    with pytest.raises(ValueError, match=(
            r"TensorArray 'kept'.stack: 3 of its 4 rows were written\. .*"
            r"size=<rows> and element_shape=, or append to a Python list")):
        positives(X)


def test_writes_past_the_grown_rows_fail_when_the_program_runs():
    @xf.function
    def twice(x):  # appends are checked where the array is read
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for v in x:
            ta = ta.write(ta.size(), v)
            ta = ta.write(ta.size(), -v)
        return ta.size(), ta.read(3)

    with pytest.raises(IndexError, match=(
            r"TensorArray 'ta'.read: 8 elements were written, past the 4 rows .* by that "
            r"trip count only")):
        twice(X)

    @xf.function
    def regrown(x):  # growing again would hide the clobbered last row
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for v in x:
            ta = ta.write(ta.size(), v)
            ta = ta.write(ta.size(), -v)
        for v in x:
            ta = ta.write(ta.size(), v)
        return ta.stack()

    with pytest.raises(IndexError, match=r"8 elements were written, past the 4 rows"):
        regrown(X)

    @xf.function
    def spread(x):  # any other index is checked where it writes
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for i in xf.range(4):
            ta = ta.write(2 * i, x[i])
        return ta.size()

    with pytest.raises(IndexError, match=(
            r"TensorArray 'ta'.write: index 4 is past the 4 rows .* by that trip count only")):
        spread(X)


def test_loops_of_unknown_trip_count_keep_the_error():
    @xf.function
    def in_while(x):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        i = xf.constant(0)
        while i < xf.shape(x)[0]:
            ta = ta.write(i, x[i])
            i += 1
        return ta.stack()

    @xf.function
    def traced_bound(x, n):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for i in xf.range(n):
            ta = ta.write(i, x[i])
        return ta.stack()

    for run, args in ((in_while, (X,)), (traced_bound, (X, xf.constant(4)))):
        with pytest.raises(ValueError, match="needs the array allocated before the loop"):
            run(*args)


def test_an_inner_loop_cannot_grow_an_array_the_outer_loop_carries():
    @xf.function
    def nested(x):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for row in x:
            for v in row:
                ta = ta.write(ta.size(), v)
        return ta.stack()

    with pytest.raises(NotImplementedError, match=(
            r"TensorArray 'ta' grows inside this tensor for loop, which carries it.*size=")):
        nested(X)

    @xf.function
    def per_row(x):  # an array made inside the outer loop grows in the inner one
        total = xf.zeros([])
        for row in x:
            ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
            for v in row:
                ta = ta.write(ta.size(), v * v)
            total += xf.reduce_sum(ta.stack())
        return total

    assert float(per_row(X)) == float(np.sum(X * X))


def test_a_python_index_past_the_rows_in_a_while_loop_keeps_the_carry_error():
    # not a growth by an inner loop: the loop's own error says the carry changed shape
    @xf.function
    def past(x):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True, element_shape=[2])
        i = xf.constant(0)
        while i < 3:
            ta = ta.write(5, x[0])
            i += 1
        return ta.stack()

    with pytest.raises(TypeError, match="'ta' is .* before this tensor while loop but"):
        past(X)


def test_a_size_left_none_by_the_input_signature_traces_per_shape():
    # a symbolic trip count is not known when tracing: xf.function traces each shape
    @xf.function(input_signature=[xf.TensorSpec([None, 2], xf.float32)])
    def run(x):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for v in x:
            ta = ta.write(ta.size(), v)
        return ta.stack()

    with pytest.warns(xf.RelaxedShapeWarning, match="needs the array allocated"):
        np.testing.assert_array_equal(run(X), X)


def test_gradient_through_stack():
    def loss(x):
        stacked, *_ = by_shape(x)
        return jnp.sum(stacked ** 2 * jnp.arange(1.0, 3.0))

    def plain(x):
        return jnp.sum((jnp.sin(x) * 2.0) ** 2 * jnp.arange(1.0, 3.0))

    np.testing.assert_allclose(jax.grad(loss)(X), jax.grad(plain)(X), rtol=1e-5)


def _jaxpr(fn, *args):
    return xf.function(fn).get_concrete_function(*args).jaxpr


def test_arrays_that_need_no_rows_keep_their_program():
    # A fixed-size array, and a dynamic one written only within its rows, lower to the
    # same program, as written by hand: nothing is grown or counted
    def fixed(x):
        ta = xf.TensorArray(xf.float32, size=4)
        for i in xf.range(4):
            ta = ta.write(i, x[i] * 2.0)
        return ta.stack()

    def dynamic(x):
        ta = xf.TensorArray(xf.float32, size=4, dynamic_size=True)
        for i in xf.range(4):
            ta = ta.write(i, x[i] * 2.0)
        return ta.stack()

    def hand(x):
        def step(i, buffer):
            return jax.lax.dynamic_update_index_in_dim(buffer, x[i] * 2.0, i, 0)
        return jax.lax.fori_loop(0, 4, step, jnp.zeros((4, 2), jnp.float32))

    assert str(_jaxpr(fixed, X)) == str(_jaxpr(dynamic, X))
    # (the converted loop computes its counter as the scan's own: one equation fewer)
    assert count_eqns(_jaxpr(fixed, X)) <= count_eqns(jax.make_jaxpr(hand)(X))

    def no_array(x):
        total = xf.zeros([2])
        for v in x:
            total += v
        return total

    def no_array_hand(x):
        return jax.lax.scan(lambda c, v: (c + v, None), jnp.zeros(2), x)[0]

    assert count_eqns(_jaxpr(no_array, X)) == count_eqns(jax.make_jaxpr(no_array_hand)(X))
