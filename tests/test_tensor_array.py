"""tf.TensorArray against Python lists: eager growth, compiled-loop writes into a
preallocated array, and the refusals that name what to write instead."""

import numpy as np
import pytest

import xlaflow as xf


def test_eager_dynamic_array_grows_and_stacks_like_a_list():
    ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
    for i in range(4):
        ta = ta.write(i, [float(i), float(i) ** 2])
    assert int(ta.size()) == 4 and ta.element_shape == (2,)
    np.testing.assert_array_equal(ta.stack(), [[i, i ** 2] for i in range(4)])
    np.testing.assert_array_equal(ta.read(2), [2.0, 4.0])
    np.testing.assert_array_equal(ta.gather([3, 0]), [[3, 9], [0, 0]])
    np.testing.assert_array_equal(ta.concat(), [0, 0, 1, 1, 2, 4, 3, 9])
    assert ta.stack().dtype == np.float32


def test_compiled_loop_writes_into_the_preallocated_array():
    @xf.function
    def running_sums(x):
        ta = xf.TensorArray(xf.float32, size=5, element_shape=())
        total = xf.constant(0.0)
        for i in xf.range(5):
            total += x[i]
            ta = ta.write(i, total)
        return ta.stack()

    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32)
    np.testing.assert_array_equal(running_sums(x), np.cumsum(x))


def test_unstack_scatter_and_fixed_size_checks():
    ta = xf.TensorArray(xf.int32, size=3).unstack(np.arange(6, dtype=np.int32).reshape(3, 2))
    np.testing.assert_array_equal(ta.read(1), [2, 3])
    ta = ta.scatter([0, 2], np.array([[7, 7], [9, 9]], np.int32))
    np.testing.assert_array_equal(ta.stack(), [[7, 7], [2, 3], [9, 9]])
    with pytest.raises(IndexError, match="index 3 .* size 3"):
        ta.write(3, [1, 1])
    with pytest.raises(ValueError, match=r"index 0 .* value shape is \[3\].* element shape \[2\]"):
        ta.write(0, [1, 2, 3])
    with pytest.raises(ValueError, match="element shape is unknown"):
        xf.TensorArray(xf.float32, size=0).stack()


def test_a_dynamic_array_written_in_a_tensor_loop_says_what_to_do():
    # a range with a traced bound: the number of rows would depend on data (a loop whose
    # trip count is known grows the array: tests/test_tensor_array_growth.py)
    @xf.function
    def doubled(x, n):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for i in xf.range(n):
            ta = ta.write(i, x[i] * 2)
        return ta.stack()

    with pytest.raises(ValueError, match="size=<number of writes>"):
        doubled(np.ones(3, np.float32), xf.constant(3))


def test_indices_outside_the_array_fail_instead_of_clamping_or_dropping():
    # TF: reading index 7 of 3 elements, a negative index, or writing past a fixed size
    # is an error; JAX indexing would clamp a read and drop a write without a word.
    ta = xf.TensorArray(xf.float32, size=3).unstack(np.array([1.0, 2.0, 3.0], np.float32))
    for index in (3, 7, -1):
        with pytest.raises(IndexError, match=f"index {index} .* size 3"):
            ta.read(index)
    with pytest.raises(IndexError, match="index 5 .* size 3"):
        ta.gather([0, 5])
    with pytest.raises(IndexError, match="index 5 .* size 3"):
        ta.scatter([0, 5], np.array([1.0, 2.0], np.float32))
    with pytest.raises(IndexError, match="index -1"):
        ta.write(-1, 1.0)


def test_a_dynamic_array_grows_to_the_largest_scattered_index():
    # TF's dynamic_size array grows on scatter as on write; the rows between stay zero
    ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
    ta = ta.scatter([0, 3], np.array([[1.0, 1.0], [4.0, 4.0]], np.float32))
    assert int(ta.size()) == 4
    np.testing.assert_array_equal(ta.stack(), [[1, 1], [0, 0], [0, 0], [4, 4]])


def test_a_value_of_another_dtype_is_refused_as_tf_does():
    # TF: convert_to_tensor(value, preferred_dtype=ta.dtype), then "TensorArray dtype is
    # float32 but Op is trying to write dtype int32"; Python numbers take the array's dtype
    # when their kind fits (1 into float32, but 1.5 into int32 stays a float and fails)
    floats = xf.TensorArray(xf.float32, size=2)
    np.testing.assert_array_equal(floats.write(0, 3).write(1, 2.5).stack(), [3.0, 2.5])
    assert floats.write(0, [1, 2]).stack().dtype == np.float32
    refused = [(floats, np.int32(3), "int32"), (floats, np.float64(1.0), "float64"),
               (floats, np.ones(2, np.int32), "int32"), (floats, True, "bool"),
               (xf.TensorArray(xf.int32, size=2), 1.5, "float32")]
    for ta, value, received in refused:
        with pytest.raises(xf.errors.InvalidArgumentError,
                           match=f"dtype is {ta.dtype.name} .* write dtype {received}"):
            ta.write(0, value)
    with pytest.raises(xf.errors.InvalidArgumentError, match="write dtype int64"):
        floats.unstack(np.arange(2))
    with pytest.raises(xf.errors.InvalidArgumentError, match="write dtype float64"):
        floats.scatter([0], np.ones(1))

    @xf.function
    def written(x):  # a traced value keeps its dtype; a weak Python scalar follows the array
        ta = xf.TensorArray(xf.float32, size=2, element_shape=())
        return ta.write(0, x * 2.0).write(1, x).stack()

    np.testing.assert_array_equal(written(np.float32(1.5)), [3.0, 1.5])
    with pytest.raises(xf.errors.InvalidArgumentError, match="write dtype int32"):
        written(np.int32(1))


def test_a_traced_index_outside_the_array_fails_when_the_program_runs():
    # TF raises for a read/write past a fixed-size array at run time; JAX would clamp the
    # read and drop the write. A dynamic_size array cannot grow at a traced index either.
    @xf.function
    def filled(x, count):
        ta = xf.TensorArray(xf.float32, size=3, element_shape=())
        for i in xf.range(count):
            ta = ta.write(i, x[i % 3])
        return ta.stack()

    x = np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_array_equal(filled(x, 3), x)
    with pytest.raises(IndexError, match="write: index 3 is outside an array of size 3"):
        filled(x, 4)

    @xf.function
    def read(i):
        return xf.TensorArray(xf.float32, size=3).unstack(x).read(i)

    assert float(read(2)) == 3.0
    for index in (3, -1):
        with pytest.raises(IndexError, match=f"read: index {index} is outside"):
            read(index)

    @xf.function
    def gathered(indices):
        return xf.TensorArray(xf.float32, size=3).unstack(x).gather(indices)

    with pytest.raises(IndexError, match="gather: index 7 is outside"):
        gathered(np.array([0, 7], np.int32))

    @xf.function
    def grown(count):
        ta = xf.TensorArray(xf.float32, size=2, dynamic_size=True, element_shape=())
        for i in xf.range(count):
            ta = ta.write(i, 1.0)
        return ta.stack()

    np.testing.assert_array_equal(grown(2), [1.0, 1.0])
    # a Python count: the loop grows the array to its counter's bound, as TF's does
    np.testing.assert_array_equal(grown(3), [1.0, 1.0, 1.0])
    # a traced count: the rows needed are known only when the program runs
    np.testing.assert_array_equal(grown(xf.constant(2)), [1.0, 1.0])
    with pytest.raises(IndexError, match="index 2 .* dynamic_size array cannot grow"):
        grown(xf.constant(3))


def test_a_sized_array_without_element_shape_is_written_in_a_tensor_loop():
    # TF's tf.function guide: TensorArray(tf.float32, size=n) with no element_shape,
    # written at a tf.range index; the loop learns the element shape from the write
    @xf.function
    def running_sums(rows):
        n = rows.shape[0]
        states = xf.TensorArray(xf.float32, size=n)
        state = xf.zeros(rows.shape[1:])
        for i in xf.range(n):
            state = state + rows[i]
            states = states.write(i, state)
        return states.stack()

    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(running_sums(rows), np.cumsum(rows, axis=0))
