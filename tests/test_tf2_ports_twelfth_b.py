"""TF's core guides "Tensor slicing", "Random number generation" and "Basic training loops"
(its Keras half; the tape half is in test_tf2_ports_third.py), with only the imports changed.

Slices are checked against NumPy indexing, random draws against their distributions'
moments (never TF's bits: xlaflow's are threefry's), and training against gradient descent
and least squares written out in NumPy.
"""

import numpy as np
import pytest

import xlaflow as tf


def test_tensor_slicing_guide_slice_gather_and_scatter():
    t1 = tf.constant([0, 1, 2, 3, 4, 5, 6, 7])
    n1 = np.arange(8)
    np.testing.assert_array_equal(tf.slice(t1, begin=[1], size=[3]), [1, 2, 3])
    np.testing.assert_array_equal(t1[1:4], n1[1:4])
    np.testing.assert_array_equal(t1[-3:], n1[-3:])
    t2 = tf.constant([[0, 1, 2, 3, 4],
                      [5, 6, 7, 8, 9],
                      [10, 11, 12, 13, 14],
                      [15, 16, 17, 18, 19]])
    n2 = np.arange(20).reshape(4, 5)
    np.testing.assert_array_equal(t2[:-1, 1:3], n2[:-1, 1:3])
    t3 = tf.constant([[[1, 3, 5, 7],
                       [9, 11, 13, 15]],
                      [[17, 19, 21, 23],
                       [25, 27, 29, 31]]
                      ])
    np.testing.assert_array_equal(tf.slice(t3, begin=[1, 1, 0], size=[1, 1, 2]), [[[25, 27]]])
    np.testing.assert_array_equal(tf.slice(t2, begin=[1, 2], size=[-1, 2]), n2[1:, 2:4])
    with pytest.raises(ValueError, match=r"slice: on axis 0.*begin=6, size=3"):
        tf.slice(t1, begin=[6], size=[3])
    # strided slices, masks as TF documents them
    n3 = np.arange(1, 32, 2).reshape(2, 2, 4)
    np.testing.assert_array_equal(tf.strided_slice(t3, [0, 1, 0], [2, 2, 4], [1, 1, 2]),
                                  n3[0:2, 1:2, 0:4:2])
    np.testing.assert_array_equal(tf.strided_slice(t1, [0], [0], [3], end_mask=1), n1[::3])
    np.testing.assert_array_equal(
        tf.strided_slice(t3, [1, 0, 0], [2, 0, 3], shrink_axis_mask=1, ellipsis_mask=2),
        n3[1, ..., 0:3])
    np.testing.assert_array_equal(tf.strided_slice(t2, [0, 4], [2, 0], [1, -2], begin_mask=1,
                                                   new_axis_mask=0), n2[:2, 4:0:-2])

    np.testing.assert_array_equal(tf.gather(t1, indices=[0, 3, 6]), [0, 3, 6])
    np.testing.assert_array_equal(t1[::3], [0, 3, 6])  # This is similar to doing
    alphabet = tf.constant(list("abcedfghijklmnopqrstuvwxyz"))  # a host value: NumPy text
    assert tf.gather(alphabet, indices=[2, 0, 19, 18]).numpy().tolist() == [
        b"c", b"a", b"t", b"s"]  # the guide's output: gathered on the host
    np.testing.assert_array_equal(tf.gather(t2, indices=[1, 3], axis=1), n2[:, [1, 3]])
    t4 = tf.constant([[0, 5],
                      [1, 6],
                      [2, 7],
                      [3, 8],
                      [4, 9]])
    np.testing.assert_array_equal(tf.gather_nd(t4, indices=[[2], [3], [0]]),
                                  [[2, 7], [3, 8], [0, 5]])
    t5 = np.reshape(np.arange(18), [2, 3, 3])
    np.testing.assert_array_equal(tf.gather_nd(t5, indices=[[0, 0, 0], [1, 2, 1]]), [0, 16])
    # Return a list of two matrices
    np.testing.assert_array_equal(
        tf.gather_nd(t5, indices=[[[0, 0], [0, 2]], [[1, 0], [1, 2]]]),
        [[t5[0, 0], t5[0, 2]], [t5[1, 0], t5[1, 2]]])
    # Return one matrix
    np.testing.assert_array_equal(tf.gather_nd(t5, indices=[[0, 0], [0, 2], [1, 0], [1, 2]]),
                                  [t5[0, 0], t5[0, 2], t5[1, 0], t5[1, 2]])
    # batch_dims: per batch row, its own indices
    np.testing.assert_array_equal(tf.gather_nd(t5, indices=[[1, 2], [0, 1]], batch_dims=1),
                                  [t5[0, 1, 2], t5[1, 0, 1]])
    np.testing.assert_array_equal(tf.gather(t5, [[2, 0], [1, 1]], axis=1, batch_dims=1),
                                  np.stack([t5[0][[2, 0]], t5[1][[1, 1]]]))

    t6 = tf.constant([10])
    indices = tf.constant([[1], [3], [5], [7], [9]])
    data = tf.constant([2, 4, 6, 8, 10])
    np.testing.assert_array_equal(tf.scatter_nd(indices=indices, updates=data, shape=t6),
                                  [0, 2, 0, 4, 0, 6, 0, 8, 0, 10])
    # Gather values from one tensor by specifying indices
    new_indices = tf.constant([[0, 2], [2, 1], [3, 3]])
    t7 = tf.gather_nd(t2, indices=new_indices)
    np.testing.assert_array_equal(t7, [2, 11, 18])
    # Add these values into a new tensor
    t8 = tf.scatter_nd(indices=new_indices, updates=t7, shape=tf.constant([4, 5]))
    want = np.zeros((4, 5), int)
    want[[0, 2, 3], [2, 1, 3]] = [2, 11, 18]
    np.testing.assert_array_equal(t8, want)
    t9 = tf.SparseTensor(indices=[[0, 2], [2, 1], [3, 3]],
                         values=[2, 11, 18],
                         dense_shape=[4, 5])
    # Convert the sparse tensor into a dense tensor
    t10 = tf.sparse.to_dense(t9)
    np.testing.assert_array_equal(t10, want)

    t11 = tf.constant([[2, 7, 0],
                       [9, 0, 1],
                       [0, 3, 8]])
    # Convert the tensor into a magic square by inserting numbers at appropriate indices
    t12 = tf.tensor_scatter_nd_add(t11, indices=[[0, 2], [1, 1], [2, 0]], updates=[6, 5, 4])
    magic = np.asarray(t12)
    assert set(magic.sum(0)) == set(magic.sum(1)) == {15} == {np.trace(magic)}
    # Convert the tensor into an identity matrix
    t13 = tf.tensor_scatter_nd_sub(t11,
                                   indices=[[0, 0], [0, 1], [1, 0], [1, 1], [1, 2], [2, 1],
                                            [2, 2]],
                                   updates=[1, 7, 9, -1, 1, 3, 7])
    np.testing.assert_array_equal(t13, np.eye(3))
    t14 = tf.constant([[-2, -7, 0],
                       [-9, 0, 1],
                       [0, -3, -8]])
    t15 = tf.tensor_scatter_nd_min(t14, indices=[[0, 2], [1, 1], [2, 0]], updates=[-6, -5, -4])
    np.testing.assert_array_equal(t15, [[-2, -7, -6], [-9, -5, 1], [-4, -3, -8]])
    t16 = tf.tensor_scatter_nd_max(t14, indices=[[0, 2], [1, 1], [2, 0]], updates=[6, 5, 4])
    np.testing.assert_array_equal(t16, [[-2, -7, 6], [-9, 5, 1], [4, -3, -8]])
    np.testing.assert_array_equal(tf.tensor_scatter_nd_update(t14, [[1, 1]], [7]),
                                  [[-2, -7, 0], [-9, 7, 1], [0, -3, -8]])


def _assert_standard_normal(x):
    x = np.asarray(x, np.float64).ravel()
    n = x.size
    assert abs(x.mean()) < 5 / np.sqrt(n)
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / n)


def test_random_guide_global_seed_and_stateless_ops():
    tf.random.set_seed(1234)
    a1, a2 = tf.random.uniform([1]), tf.random.uniform([1])
    tf.random.set_seed(1234)  # the same program again: the same numbers
    np.testing.assert_array_equal(tf.random.uniform([1]), a1)
    np.testing.assert_array_equal(tf.random.uniform([1]), a2)
    assert float(a1[0]) != float(a2[0])

    tf.random.set_seed(1234)

    @tf.function
    def f():
        a = tf.random.uniform([1])
        b = tf.random.uniform([1])
        return a, b

    fa, fb = f()
    np.testing.assert_array_equal(fa, a1)
    np.testing.assert_array_equal(fb, a2)
    # op seeds: with the global seed fixed, each call still advances
    tf.random.set_seed(1234)
    s1, s2 = tf.random.uniform([1], seed=1), tf.random.uniform([1], seed=1)
    assert float(s1[0]) != float(s2[0])
    tf.random.set_seed(1234)
    np.testing.assert_array_equal(tf.random.uniform([1], seed=1), s1)

    # stateless: the seed pair alone fixes the numbers
    x = tf.random.stateless_normal(shape=[2, 3], seed=[1, 2])
    np.testing.assert_array_equal(x, tf.random.stateless_normal(shape=[2, 3], seed=[1, 2]))
    assert not np.array_equal(x, tf.random.stateless_normal(shape=[2, 3], seed=[1, 3]))
    _assert_standard_normal(tf.random.stateless_normal(shape=[20000], seed=[7, 8]))
    u = np.asarray(tf.random.stateless_uniform(shape=[20000], seed=[3, 4]), np.float64)
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)
    ints = np.asarray(tf.random.stateless_uniform([20000], seed=[5, 6], minval=0, maxval=10,
                                                  dtype=tf.int32))
    counts = np.bincount(ints, minlength=10)
    assert ints.min() >= 0 and ints.max() <= 9
    assert np.all(np.abs(counts - 2000) < 5 * np.sqrt(20000 * 0.1 * 0.9))

    seeds = tf.random.experimental.stateless_split([1, 2], num=3)
    assert np.asarray(seeds).shape == (3, 2)
    draws = [np.asarray(tf.random.stateless_normal([4], seed=s)) for s in seeds]
    assert len({d.tobytes() for d in draws}) == 3
    np.testing.assert_array_equal(seeds, tf.random.experimental.stateless_split([1, 2], num=3))
    folded = tf.random.experimental.stateless_fold_in([1, 2], 5)
    np.testing.assert_array_equal(folded, tf.random.experimental.stateless_fold_in([1, 2], 5))
    assert not np.array_equal(folded, tf.random.experimental.stateless_fold_in([1, 2], 6))


def test_random_guide_generators_split_functions_and_checkpoints(tmp_path):
    g1 = tf.random.Generator.from_seed(1)
    x = g1.normal(shape=[2, 3])
    g2 = tf.random.get_global_generator()
    assert g2.normal(shape=[2, 3]).shape == (2, 3)
    np.testing.assert_array_equal(tf.random.Generator.from_seed(1).normal(shape=[2, 3]), x)
    # the algorithm names TF takes; the bits are threefry's either way
    g1 = tf.random.Generator.from_seed(1, alg="philox")
    np.testing.assert_array_equal(g1.normal(shape=[2, 3]), x)
    with pytest.raises(ValueError, match=r"'alg'.*received 'mersenne'"):
        tf.random.Generator.from_seed(1, alg="mersenne")
    g2 = tf.random.Generator.from_non_deterministic_state()
    _assert_standard_normal(g2.normal(shape=[20000]))
    u = np.asarray(g2.uniform(shape=[20000]), np.float64)
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)

    g = tf.random.Generator.from_seed(1)
    first, second = float(g.normal([])), float(g.normal([]))
    assert first != second
    g.reset_from_seed(1)
    assert float(g.normal([])) == first

    g = tf.random.Generator.from_seed(1)
    head = float(g.normal([]))
    new_gs = g.split(3)
    split_draws = [float(new_g.normal([])) for new_g in new_gs]
    after = float(g.normal([]))
    assert head == first and len({*split_draws, after}) == 4

    g = tf.random.Generator.from_seed(1)

    @tf.function
    def foo():
        return g.normal([])

    calls = [float(foo()), float(foo())]
    assert calls[0] == first and calls[1] == second
    assert foo.experimental_get_tracing_count() == 1

    g = None

    @tf.function
    def foo2():
        nonlocal g
        if g is None:
            g = tf.random.Generator.from_seed(1)
        return g.normal([])

    assert [float(foo2()), float(foo2())] == [first, second]

    num_traces = 0

    @tf.function
    def foo3(g):
        nonlocal num_traces
        num_traces += 1
        return g.normal([])

    foo3(tf.random.Generator.from_seed(1))
    foo3(tf.random.Generator.from_seed(2))
    assert num_traces == 2

    filename = str(tmp_path / "checkpoint")
    g = tf.random.Generator.from_seed(1)
    cp = tf.train.Checkpoint(generator=g)
    g.normal([])
    path = cp.write(filename)
    from_saving = [float(g.normal([])), float(g.normal([]))]
    cp.restore(path)
    assert [float(g.normal([])), float(g.normal([]))] == from_saving


def test_basic_training_loops_guide_keras_fit_matches_gradient_descent():
    TRUE_W = 3.0
    TRUE_B = 2.0
    NUM_EXAMPLES = 201
    # A vector of random x values
    x = tf.linspace(-2, 2, NUM_EXAMPLES)
    x = tf.cast(x, tf.float32)

    def f(x):
        return x * TRUE_W + TRUE_B

    # Generate some noise
    tf.random.set_seed(0)
    noise = tf.random.normal(shape=[NUM_EXAMPLES])
    # Calculate y
    y = f(x) + noise

    class MyModelKeras(tf.keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Initial values are set here; in practice they would be random
            self.w = tf.Variable(5.0)
            self.b = tf.Variable(0.0)

        def call(self, x):
            return self.w * x + self.b

    keras_model = MyModelKeras()
    keras_model.compile(
        # By default, fit() uses tf.function().  You can
        # turn that off for debugging, but it is on now.
        run_eagerly=False,
        # Using a built-in optimizer, configuring as an object
        optimizer=tf.keras.optimizers.SGD(learning_rate=0.1),
        # Keras comes with built-in MSE error
        # However, you could use the loss function
        # defined above
        loss=tf.keras.losses.mean_squared_error,
    )
    history = keras_model.fit(x, y, epochs=10, batch_size=1000, verbose=0)

    # one full batch per epoch: ten steps of gradient descent on the mean squared error
    xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w, b, losses = 5.0, 0.0, []
    for _ in range(10):
        err = w * xs + b - ys
        losses.append(np.mean(err ** 2))
        w, b = w - 0.1 * 2 * np.mean(err * xs), b - 0.1 * 2 * np.mean(err)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-4)
    np.testing.assert_allclose([float(keras_model.w), float(keras_model.b)], [w, b],
                               rtol=1e-4)

    keras_model.fit(x, y, epochs=90, batch_size=1000, verbose=0)
    w_ls, b_ls = np.polyfit(xs, ys, 1)
    np.testing.assert_allclose([float(keras_model.w), float(keras_model.b)], [w_ls, b_ls],
                               atol=1e-3)
    # and least squares on 201 noisy points lands near the true line (noise std 1)
    assert abs(w_ls - TRUE_W) < 5 * np.sqrt(1 / np.sum((xs - xs.mean()) ** 2))
    assert abs(b_ls - TRUE_B) < 5 / np.sqrt(NUM_EXAMPLES)
