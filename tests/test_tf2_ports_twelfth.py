"""TF's core guides "Introduction to Tensors" and "Introduction to Variables", as written,
with only the imports changed (`import xlaflow as tf`).

Values are checked against NumPy; the guide's ragged section runs on xf.RaggedTensor (a
ragged nested list is refused by tf.constant, as TF refuses it), string splits give ragged
rows, and its sparse section runs (xf.sparse). Where a tensor's `.numpy()` is
called, the port writes `np.asarray(t)` (tensors are jax.Arrays; README, "Tensors").
"""

import numpy as np
import pytest

import xlaflow as tf


def test_tensors_guide_ranks_math_shapes_and_indexing():
    rank_0_tensor = tf.constant(4)
    rank_1_tensor = tf.constant([2.0, 3.0, 4.0])
    rank_2_tensor = tf.constant([[1, 2], [3, 4], [5, 6]], dtype=tf.float16)
    rank_3_tensor = tf.constant([
        [[0, 1, 2, 3, 4],
         [5, 6, 7, 8, 9]],
        [[10, 11, 12, 13, 14],
         [15, 16, 17, 18, 19]],
        [[20, 21, 22, 23, 24],
         [25, 26, 27, 28, 29]]])
    assert (rank_0_tensor.ndim, rank_0_tensor.dtype, int(rank_0_tensor)) == (0, tf.int32, 4)
    assert rank_1_tensor.dtype == tf.float32 and rank_1_tensor.shape == (3,)
    assert rank_2_tensor.dtype == np.float16
    np.testing.assert_array_equal(np.array(rank_2_tensor), [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(rank_3_tensor, np.arange(30).reshape(3, 2, 5))

    a = tf.constant([[1, 2], [3, 4]])
    b = tf.constant([[1, 1], [1, 1]])  # Could have also said `tf.ones([2,2], dtype=tf.int32)`
    na, nb = np.array([[1, 2], [3, 4]]), np.ones((2, 2), int)
    for got, want in [(tf.add(a, b), na + nb), (tf.multiply(a, b), na * nb),
                      (tf.matmul(a, b), na @ nb), (a + b, na + nb), (a * b, na * nb),
                      (a @ b, na @ nb)]:
        assert got.dtype == tf.int32
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(tf.ones([2, 2], dtype=tf.int32), b)

    c = tf.constant([[4.0, 5.0], [10.0, 1.0]])
    assert float(tf.reduce_max(c)) == 10.0
    np.testing.assert_array_equal(tf.math.argmax(c), [1, 0])  # along axis 0, as TF
    nc = np.array([[4.0, 5.0], [10.0, 1.0]])
    np.testing.assert_allclose(tf.nn.softmax(c), np.exp(nc) / np.exp(nc).sum(-1, keepdims=True),
                               rtol=1e-6)
    np.testing.assert_array_equal(tf.convert_to_tensor([1, 2, 3]), [1, 2, 3])
    assert int(tf.reduce_max([1, 2, 3])) == 3
    assert int(tf.reduce_max(np.array([1, 2, 3]))) == 3

    rank_4_tensor = tf.zeros([3, 2, 4, 5])
    assert rank_4_tensor.dtype == tf.float32
    assert rank_4_tensor.ndim == 4
    assert rank_4_tensor.shape == (3, 2, 4, 5)
    assert (rank_4_tensor.shape[0], rank_4_tensor.shape[-1]) == (3, 5)
    assert tf.size(rank_4_tensor) == 3 * 2 * 4 * 5
    assert int(tf.rank(rank_4_tensor)) == 4
    np.testing.assert_array_equal(tf.shape(rank_4_tensor), [3, 2, 4, 5])

    rank_1_tensor = tf.constant([0, 1, 1, 2, 3, 5, 8, 13, 21, 34])
    fib = np.array([0, 1, 1, 2, 3, 5, 8, 13, 21, 34])
    assert (int(rank_1_tensor[0]), int(rank_1_tensor[1]), int(rank_1_tensor[-1])) == (0, 1, 34)
    for got, want in [(rank_1_tensor[:], fib), (rank_1_tensor[:4], fib[:4]),
                      (rank_1_tensor[4:], fib[4:]), (rank_1_tensor[2:7], fib[2:7]),
                      (rank_1_tensor[::2], fib[::2]), (rank_1_tensor[::-1], fib[::-1])]:
        np.testing.assert_array_equal(np.asarray(got), want)
    n2 = np.array([[1, 2], [3, 4], [5, 6]], np.float16)
    assert float(rank_2_tensor[1, 1]) == 4.0
    for got, want in [(rank_2_tensor[1, :], n2[1]), (rank_2_tensor[:, 1], n2[:, 1]),
                      (rank_2_tensor[-1, :], n2[-1]), (rank_2_tensor[1:, :], n2[1:])]:
        np.testing.assert_array_equal(np.asarray(got), want)
    assert float(rank_2_tensor[0, -1]) == 2.0
    np.testing.assert_array_equal(rank_3_tensor[:, :, 4], [[4, 9], [14, 19], [24, 29]])


def test_tensors_guide_reshape_dtypes_broadcasting():
    x = tf.constant([[1], [2], [3]])
    assert x.shape == (3, 1)
    # TF's x.shape is a TensorShape; a jax.Array's is a tuple (tensor_shape.py)
    assert tf.TensorShape(x.shape).as_list() == [3, 1]
    reshaped = tf.reshape(x, [1, 3])
    assert reshaped.shape == (1, 3)

    rank_3_tensor = tf.constant(np.arange(30).reshape(3, 2, 5))
    flat = np.arange(30)
    np.testing.assert_array_equal(tf.reshape(rank_3_tensor, [-1]), flat)
    np.testing.assert_array_equal(tf.reshape(rank_3_tensor, [3 * 2, 5]), flat.reshape(6, 5))
    np.testing.assert_array_equal(tf.reshape(rank_3_tensor, [3, -1]), flat.reshape(3, 10))
    # "Bad examples": legal, but they scramble the axes rather than swap them
    np.testing.assert_array_equal(tf.reshape(rank_3_tensor, [2, 3, 5]), flat.reshape(2, 3, 5))
    np.testing.assert_array_equal(tf.reshape(rank_3_tensor, [5, 6]), flat.reshape(5, 6))
    np.testing.assert_array_equal(tf.transpose(rank_3_tensor, [1, 0, 2]),
                                  flat.reshape(3, 2, 5).transpose(1, 0, 2))
    with pytest.raises(Exception, match="30"):  # TF: InvalidArgumentError
        tf.reshape(rank_3_tensor, [7, -1])

    # 64-bit types need jax_enable_x64 (README): without it float64 is stored as float32
    with pytest.warns(UserWarning, match="float64"):
        the_f64_tensor = tf.constant([2.2, 3.3, 4.4], dtype=tf.float64)
    the_f16_tensor = tf.cast(the_f64_tensor, dtype=tf.float16)
    # Casting to an uint8 loses the decimal precision
    the_u8_tensor = tf.cast(the_f16_tensor, dtype=tf.uint8)
    assert the_u8_tensor.dtype == tf.uint8
    np.testing.assert_array_equal(the_u8_tensor, [2, 3, 4])

    x = tf.constant([1, 2, 3])
    y = tf.constant(2)
    z = tf.constant([2, 2, 2])
    # All of these are the same computation
    for got in (tf.multiply(x, 2), x * y, x * z):
        np.testing.assert_array_equal(got, [2, 4, 6])
    x = tf.reshape(x, [3, 1])
    y = tf.range(1, 5)
    np.testing.assert_array_equal(tf.multiply(x, y), np.outer([1, 2, 3], [1, 2, 3, 4]))
    x_stretch = tf.constant([[1, 1, 1, 1],
                             [2, 2, 2, 2],
                             [3, 3, 3, 3]])
    y_stretch = tf.constant([[1, 2, 3, 4],
                             [1, 2, 3, 4],
                             [1, 2, 3, 4]])
    np.testing.assert_array_equal(x_stretch * y_stretch, tf.multiply(x, y))
    np.testing.assert_array_equal(tf.broadcast_to(tf.constant([1, 2, 3]), [3, 3]),
                                  [[1, 2, 3]] * 3)
    with pytest.raises(ValueError, match=r"broadcast_to.*\(3,\).*'shape' \[3, 2\]"):
        tf.broadcast_to(tf.constant([1, 2, 3]), [3, 2])


def test_tensors_guide_ragged_string_and_sparse_sections_run():
    ragged_list = [
        [0, 1, 2, 3],
        [4, 5],
        [6, 7, 8],
        [9]]
    with pytest.raises(ValueError, match=r"non-rectangular.*xf.ragged.constant"):
        tf.constant(ragged_list)  # TF: ValueError, can't convert a non-rectangular sequence
    ragged_tensor = tf.ragged.constant(ragged_list)
    assert str(ragged_tensor) == "<tf.RaggedTensor [[0, 1, 2, 3], [4, 5], [6, 7, 8], [9]]>"
    assert ragged_tensor.shape.as_list() == [4, None]

    # Strings are host values (NumPy str arrays, .numpy() gives bytes as TF's); XLA holds
    # none, so inside a compiled function they are refused, naming what to write instead
    scalar_string_tensor = tf.constant("Gray wolf")
    assert scalar_string_tensor.numpy() == b"Gray wolf"
    tensor_of_strings = tf.constant(["Gray wolf",
                                     "Quick brown fox",
                                     "Lazy dog"])
    assert tensor_of_strings.shape == (3,)
    assert tensor_of_strings.numpy().tolist() == [b"Gray wolf", b"Quick brown fox",
                                                  b"Lazy dog"]
    assert tf.constant("🥳👍").numpy() == b"\xf0\x9f\xa5\xb3\xf0\x9f\x91\x8d"
    assert tf.convert_to_tensor(np.array(["Duck"])).numpy().tolist() == [b"Duck"]
    with pytest.raises(TypeError, match=r"no string tensors.*integer ids"):
        tf.function(lambda: tf.constant("Gray wolf"))()
    with pytest.raises(TypeError, match=r"convert_to_tensor.*no string tensors"):
        tf.function(lambda: tf.convert_to_tensor(np.array(["Duck"])))()
    # You can use split to split a string into a set of tensors
    assert tf.strings.split(scalar_string_tensor, sep=" ").numpy().tolist() == [b"Gray",
                                                                               b"wolf"]
    # ...but it turns into a `RaggedTensor` if you split up a tensor of strings
    split_rows = tf.strings.split(tensor_of_strings)
    assert isinstance(split_rows, tf.RaggedTensor)
    assert split_rows.to_list() == [s.split() for s in (b"Gray wolf", b"Quick brown fox",
                                                        b"Lazy dog")]
    text = tf.constant("1 10 100")
    np.testing.assert_array_equal(tf.strings.to_number(tf.strings.split(text, " ")),
                                  np.array([1.0, 10.0, 100.0], np.float32))
    byte_strings = tf.strings.bytes_split(tf.constant("Duck"))
    assert byte_strings.numpy().tolist() == [b"D", b"u", b"c", b"k"]
    unicode_char_bytes = tf.strings.unicode_split(tf.constant("アヒル 🦆"), "UTF-8")
    assert unicode_char_bytes.numpy().tolist() == [c.encode() for c in "アヒル 🦆"]
    with pytest.raises(AttributeError, match=r"tf.io.decode_raw is not provided.*frombuffer"):
        tf.io.decode_raw(tf.constant([68, 117]), tf.uint8)

    # Sparse tensors store values by index in a memory-efficient manner
    sparse_tensor = tf.sparse.SparseTensor(indices=[[0, 0], [1, 2]],
                                           values=[1, 2],
                                           dense_shape=[3, 4])
    assert "SparseTensor(indices=" in repr(sparse_tensor)
    # You can convert sparse tensors to dense
    np.testing.assert_array_equal(tf.sparse.to_dense(sparse_tensor),
                                  [[1, 0, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0]])
    assert tf.SparseTensor is tf.sparse.SparseTensor


def test_variables_guide_create_assign_names_trainable_and_devices():
    my_tensor = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    my_variable = tf.Variable(my_tensor)
    # Variables can be all kinds of types, just like tensors
    bool_variable = tf.Variable([False, False, False, True])
    complex_variable = tf.Variable([5 + 4j, 6 + 1j])
    assert bool_variable.dtype == tf.bool and complex_variable.dtype == tf.complex64
    np.testing.assert_array_equal(complex_variable.numpy(), [5 + 4j, 6 + 1j])

    assert my_variable.shape == (2, 2)
    assert my_variable.dtype == tf.float32
    np.testing.assert_array_equal(my_variable.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    assert "numpy=" in repr(my_variable)
    np.testing.assert_array_equal(tf.convert_to_tensor(my_variable), my_tensor)
    np.testing.assert_array_equal(tf.math.argmax(my_variable), [1, 1])
    # This creates a new tensor; it does not reshape the variable.
    np.testing.assert_array_equal(tf.reshape(my_variable, [1, 4]), [[1.0, 2.0, 3.0, 4.0]])
    assert my_variable.shape == (2, 2)

    a = tf.Variable([2.0, 3.0])
    # This will keep the same dtype, float32
    a.assign([1, 2])
    assert a.dtype == tf.float32
    np.testing.assert_array_equal(a.numpy(), [1.0, 2.0])
    # Not allowed as it resizes the variable:
    with pytest.raises(ValueError, match=r"expected shape \(2,\), received \(3,\)"):
        a.assign([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(a.numpy(), [1.0, 2.0])  # unchanged by the refusal

    a = tf.Variable([2.0, 3.0])
    # Create b based on the value of a
    b = tf.Variable(a)
    a.assign([5, 6])
    # a and b are different
    np.testing.assert_array_equal(a.numpy(), [5.0, 6.0])
    np.testing.assert_array_equal(b.numpy(), [2.0, 3.0])
    # There are other versions of assign
    np.testing.assert_array_equal(a.assign_add([2, 3]).numpy(), [7.0, 9.0])
    np.testing.assert_array_equal(a.assign_sub([7, 9]).numpy(), [0.0, 0.0])

    # Create a and b; they will have the same name but will be backed by different tensors.
    a = tf.Variable(my_tensor, name="Mark")
    # A new variable with the same name, but different value
    # Note that the scalar add is broadcast
    b = tf.Variable(my_tensor + 1, name="Mark")
    # These are elementwise-unequal, despite having the same name
    assert a.name.startswith("Mark") and b.name.startswith("Mark")
    np.testing.assert_array_equal(a == b, np.zeros((2, 2), bool))

    step_counter = tf.Variable(1, trainable=False)
    assert not step_counter.trainable and step_counter.dtype == tf.int32
    assert tf.Variable(1.0).trainable

    with tf.device("CPU:0"):
        # Create some tensors
        a = tf.Variable([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        b = tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        c = tf.matmul(a, b)
    np.testing.assert_allclose(c, [[22.0, 28.0], [49.0, 64.0]])
    assert {d.platform for d in c.devices()} == {"cpu"}

    with tf.device("CPU:0"):
        a = tf.Variable([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        b = tf.Variable([[1.0, 2.0, 3.0]])
    # The guide multiplies under tf.device('GPU:0'), relying on TF's soft placement to
    # fall back to the CPU; xlaflow names the missing device instead (see the report)
    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(ValueError, match=r"GPU:0.*0 GPU device"):
            tf.device("GPU:0")
        k = a * b
    else:
        with tf.device("GPU:0"):
            k = a * b
    np.testing.assert_array_equal(k, [[1.0, 4.0, 9.0], [4.0, 10.0, 18.0]])
