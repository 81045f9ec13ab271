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
    ta = xf.TensorArray(xf.int32, size=3).unstack(np.arange(6).reshape(3, 2))
    np.testing.assert_array_equal(ta.read(1), [2, 3])
    ta = ta.scatter([0, 2], np.array([[7, 7], [9, 9]]))
    np.testing.assert_array_equal(ta.stack(), [[7, 7], [2, 3], [9, 9]])
    with pytest.raises(IndexError, match="index 3 .* size 3"):
        ta.write(3, [1, 1])
    with pytest.raises(ValueError, match="shape \\(3,\\)"):
        ta.write(0, [1, 2, 3])
    with pytest.raises(ValueError, match="element shape is unknown"):
        xf.TensorArray(xf.float32, size=0).stack()


def test_a_dynamic_array_written_in_a_tensor_loop_says_what_to_do():
    @xf.function
    def doubled(x):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for i in xf.range(xf.shape(x)[0]):
            ta = ta.write(i, x[i] * 2)
        return ta.stack()

    with pytest.raises(ValueError, match="size=<number of writes>"):
        doubled(np.ones(3, np.float32))


def test_indices_outside_the_array_fail_instead_of_clamping_or_dropping():
    # TF: reading index 7 of 3 elements, a negative index, or writing past a fixed size
    # is an error; JAX indexing would clamp a read and drop a write without a word.
    # (Indices traced in a compiled loop stay unchecked: see tensor_array.py.)
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
