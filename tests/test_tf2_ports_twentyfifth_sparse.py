"""The twenty-fifth round of whole TF2 programs (see test_tf2_ports.py): TF's guide "Working
with sparse tensors" (TF 2.17 text) as written, imports changed.

What changed, each line saying why: `tf.keras.Input(..., sparse=True)` becomes a dense Input
fed `tf.sparse.to_dense(sparse_data)` (xlaflow's Keras takes no sparse inputs yet); the
tf.data section runs as written (SparseTensor elements are sliced, batched and mapped). The tf.train.Example section has no code. `print(st1)` shows int32
indices where TF shows int64 (JAX's integers are 32-bit unless jax_enable_x64 is on).

Oracles: the guide's printed outputs (pprint_sparse_tensor's text, the dense matrices), each
also computed with NumPy from the indices and values the program writes.
"""

import numpy as np

import xlaflow as tf


def pprint_sparse_tensor(st):  # the guide's helper as written (its f-string has no fields)
    s = "<SparseTensor shape=%s \n values={" % (st.dense_shape.numpy().tolist(),)  # noqa: UP031
    for (index, value) in zip(st.indices, st.values):
        s += f"\n  %s: %s" % (index.numpy().tolist(), value.numpy().tolist())  # noqa: F541
    return s + "}>"


def _dense(indices, values, shape):
    out = np.zeros(shape, np.asarray(values).dtype)
    for index, value in zip(indices, values):
        out[tuple(index)] = value
    return out


def test_creating_printing_and_converting_sparse_tensors():
    st1 = tf.sparse.SparseTensor(indices=[[0, 3], [2, 4]],
                                 values=[10, 20],
                                 dense_shape=[3, 10])
    # TF prints dtype=int64 for the indices and dense_shape (see the module docstring)
    assert repr(st1) == (
        "SparseTensor(indices=tf.Tensor(\n[[0 3]\n [2 4]], shape=(2, 2), dtype=int32), "
        "values=tf.Tensor([10 20], shape=(2,), dtype=int32), "
        "dense_shape=tf.Tensor([ 3 10], shape=(2,), dtype=int64))")
    assert pprint_sparse_tensor(st1) == (
        "<SparseTensor shape=[3, 10] \n values={\n  [0, 3]: 10\n  [2, 4]: 20}>")

    st2 = tf.sparse.from_dense([[1, 0, 0, 8], [0, 0, 0, 0], [0, 0, 3, 0]])
    assert pprint_sparse_tensor(st2) == (
        "<SparseTensor shape=[3, 4] \n values={\n  [0, 0]: 1\n  [0, 3]: 8\n  [2, 2]: 3}>")
    st3 = tf.sparse.to_dense(st2)
    np.testing.assert_array_equal(st3, [[1, 0, 0, 8], [0, 0, 0, 0], [0, 0, 3, 0]])
    assert st3.dtype == np.int32


def test_manipulating_sparse_tensors_add_matmul_concat_slice_map_values():
    st_a = tf.sparse.SparseTensor(indices=[[0, 2], [3, 4]],
                                  values=[31, 2],
                                  dense_shape=[4, 10])
    st_b = tf.sparse.SparseTensor(indices=[[0, 2], [3, 0]],
                                  values=[56, 38],
                                  dense_shape=[4, 10])
    st_sum = tf.sparse.add(st_a, st_b)
    assert pprint_sparse_tensor(st_sum) == (
        "<SparseTensor shape=[4, 10] \n values={\n  [0, 2]: 87\n  [3, 0]: 38\n  [3, 4]: 2}>")
    np.testing.assert_array_equal(
        tf.sparse.to_dense(st_sum),
        _dense([[0, 2], [3, 4]], [31, 2], (4, 10)) + _dense([[0, 2], [3, 0]], [56, 38], (4, 10)))

    st_c = tf.sparse.SparseTensor(indices=([0, 1], [1, 0], [1, 1]),
                                  values=[13, 15, 17],
                                  dense_shape=(2, 2))
    mb = tf.constant([[4], [6]])
    product = tf.sparse.sparse_dense_matmul(st_c, mb)
    np.testing.assert_array_equal(product, [[78], [162]])
    np.testing.assert_array_equal(product, _dense([[0, 1], [1, 0], [1, 1]], [13, 15, 17],
                                                  (2, 2)) @ np.array([[4], [6]]))

    a_indices = [[2, 4], [3, 3], [3, 4], [4, 3], [4, 4], [5, 4]]
    b_indices = [[0, 2], [1, 1], [1, 3], [2, 0], [2, 4], [2, 5], [3, 5],
                 [4, 5], [5, 0], [5, 4], [5, 5], [6, 1], [6, 3], [7, 2]]
    sparse_pattern_A = tf.sparse.SparseTensor(indices=a_indices,
                                              values=[1, 1, 1, 1, 1, 1],
                                              dense_shape=[8, 5])
    sparse_pattern_B = tf.sparse.SparseTensor(indices=b_indices,
                                              values=[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
                                              dense_shape=[8, 6])
    sparse_pattern_C = tf.sparse.SparseTensor(indices=[[3, 0], [4, 0]],
                                              values=[1, 1],
                                              dense_shape=[8, 6])
    sparse_patterns_list = [sparse_pattern_A, sparse_pattern_B, sparse_pattern_C]
    sparse_pattern = tf.sparse.concat(axis=1, sp_inputs=sparse_patterns_list)
    dense_a = _dense(a_indices, [1] * 6, (8, 5))
    dense_b = _dense(b_indices, [1] * 14, (8, 6))
    dense_c = _dense([[3, 0], [4, 0]], [1, 1], (8, 6))
    whole = tf.sparse.to_dense(sparse_pattern)
    np.testing.assert_array_equal(whole, np.concatenate([dense_a, dense_b, dense_c], axis=1))
    # the guide's printed pattern: its first row has a single 1, in column 7
    assert whole.shape == (8, 17) and np.argwhere(np.asarray(whole)[0]).tolist() == [[7]]

    sparse_slice_A = tf.sparse.slice(sparse_pattern_A, start=[0, 0], size=[8, 5])
    sparse_slice_B = tf.sparse.slice(sparse_pattern_B, start=[0, 5], size=[8, 6])
    sparse_slice_C = tf.sparse.slice(sparse_pattern_C, start=[0, 10], size=[8, 6])
    np.testing.assert_array_equal(tf.sparse.to_dense(sparse_slice_A), dense_a[:, 0:5])
    np.testing.assert_array_equal(tf.sparse.to_dense(sparse_slice_B), dense_b[:, 5:11])
    np.testing.assert_array_equal(tf.sparse.to_dense(sparse_slice_B).ravel(),
                                  [0, 0, 1, 1, 1, 1, 0, 0])  # the guide's (8, 1) column
    assert tf.sparse.to_dense(sparse_slice_C).shape == (8, 0)  # TF: tf.Tensor([], (8, 0))

    st2 = tf.sparse.from_dense([[1, 0, 0, 8], [0, 0, 0, 0], [0, 0, 3, 0]])
    want = [[6, 0, 0, 13], [0, 0, 0, 0], [0, 0, 8, 0]]
    st2_plus_5 = tf.sparse.map_values(tf.add, st2, 5)
    np.testing.assert_array_equal(tf.sparse.to_dense(st2_plus_5), want)
    st2_plus_5 = tf.sparse.SparseTensor(
        st2.indices,
        st2.values + 5,
        st2.dense_shape)
    np.testing.assert_array_equal(tf.sparse.to_dense(st2_plus_5), want)


def test_keras_section_with_dense_inputs_and_tf_data_section():
    tf.keras.utils.set_random_seed(0)
    x = tf.keras.Input(shape=(4,))  # sparse=True: refused (xlaflow's Keras inputs are dense)
    y = tf.keras.layers.Dense(4)(x)
    model = tf.keras.Model(x, y)

    sparse_data = tf.sparse.SparseTensor(
        indices=[(0, 0), (0, 1), (0, 2),
                 (4, 3), (5, 0), (5, 1)],
        values=[1, 1, 1, 1, 1, 1],
        dense_shape=(6, 4)
    )
    # the model takes the dense tensor (float32, as Keras casts TF's sparse input)
    dense_data = tf.cast(tf.sparse.to_dense(sparse_data), tf.float32)
    out = model(dense_data)
    kernel, bias = (np.asarray(w) for w in model.layers[-1].get_weights())
    want = _dense(np.asarray(sparse_data.indices), [1.0] * 6, (6, 4)) @ kernel + bias
    np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_allclose(model.predict(dense_data, verbose=0), want, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(out)[1:4], 0)  # the guide's three zero rows

    # the guide's tf.data section as written: slices, batch(2), unbatch and x*2, each
    # element printed with its helper; the oracle is NumPy's dense rows of the data
    dense = _dense(np.asarray(sparse_data.indices), [1] * 6, (6, 4))

    def text(array):  # pprint_sparse_tensor's text for a dense NumPy array's nonzeros
        entries = "".join(f"\n  {list(map(int, i))}: {array[tuple(i)]}"
                          for i in np.argwhere(array))
        return f"<SparseTensor shape={list(array.shape)} \n values={{{entries}}}>"

    dataset = tf.data.Dataset.from_tensor_slices(sparse_data)
    assert [pprint_sparse_tensor(element) for element in dataset] == [text(r) for r in dense]
    batched_dataset = dataset.batch(2)
    assert [pprint_sparse_tensor(element) for element in batched_dataset] == [
        text(dense[i:i + 2]) for i in range(0, 6, 2)]
    unbatched_batched_dataset = batched_dataset.unbatch()
    assert [pprint_sparse_tensor(element) for element in unbatched_batched_dataset] == [
        text(r) for r in dense]
    transform_dataset = dataset.map(lambda x: x*2)
    assert [pprint_sparse_tensor(i) for i in transform_dataset] == [text(r * 2) for r in dense]


def test_tf_function_and_missing_values_versus_zeros():
    @tf.function
    def f(x, y):
        return tf.sparse.sparse_dense_matmul(x, y)

    a = tf.sparse.SparseTensor(indices=[[0, 3], [2, 4]],
                               values=[15, 25],
                               dense_shape=[3, 10])
    b = tf.sparse.to_dense(tf.sparse.transpose(a))
    c = f(a, b)
    np.testing.assert_array_equal(c, [[225, 0, 0], [0, 0, 0], [0, 0, 625]])
    dense_a = _dense([[0, 3], [2, 4]], [15, 25], (3, 10))
    np.testing.assert_array_equal(c, dense_a @ dense_a.T)

    # missing values are not zeros to tf.sparse.reduce_max: -3, where the dense max is 0
    assert int(tf.sparse.reduce_max(tf.sparse.from_dense([-5, 0, -3]))) == -3
    assert int(tf.math.reduce_max([-5, 0, -3])) == 0
