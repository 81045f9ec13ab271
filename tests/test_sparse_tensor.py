"""xf.SparseTensor and xf.sparse against NumPy: each sparse tensor's dense equivalent is built
with NumPy (np.argwhere / index assignment), and each op's result is compared with the same
operation on that dense array, eagerly and inside xf.function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xlaflow as tf

SHAPES = [(4, 5), (3, 1, 4), (6,), (2, 3, 2)]


def _random_dense(seed, shape, density=0.3, dtype=np.float32):
    rng = np.random.default_rng(seed)
    values = rng.integers(-9, 10, size=shape).astype(dtype)
    values[values == 0] = 1  # the mask alone decides which elements are entries
    return np.where(rng.random(shape) < density, values, 0).astype(dtype)


def _sparse_of(dense, shuffle_seed=None):
    """The SparseTensor of `dense`'s nonzeros, built without xf.sparse.from_dense."""
    where = np.argwhere(dense != 0)
    if shuffle_seed is not None:
        where = where[np.random.default_rng(shuffle_seed).permutation(len(where))]
    return tf.SparseTensor(where, dense[tuple(where.T)], dense.shape)


dense_cases = st.tuples(st.integers(0, 2 ** 16), st.sampled_from(SHAPES),
                        st.sampled_from([0.0, 0.2, 0.6, 1.0]))


def test_construction_attributes_and_tf_repr():
    st1 = tf.SparseTensor(indices=[[0, 3], [2, 4]], values=[10, 20], dense_shape=[3, 10])
    np.testing.assert_array_equal(st1.indices, [[0, 3], [2, 4]])
    np.testing.assert_array_equal(st1.values, [10, 20])
    assert st1.dense_shape.numpy().tolist() == [3, 10]
    assert st1.shape.as_list() == [3, 10] and st1.get_shape().as_list() == [3, 10]
    assert st1.dtype == np.int32 and st1.indices.dtype == jax.dtypes.canonicalize_dtype("int64")
    assert repr(st1) == (
        "SparseTensor(indices=tf.Tensor(\n[[0 3]\n [2 4]], shape=(2, 2), dtype=int32), "
        "values=tf.Tensor([10 20], shape=(2,), dtype=int32), "
        "dense_shape=tf.Tensor([ 3 10], shape=(2,), dtype=int64))")
    empty = tf.SparseTensor(indices=[], values=[], dense_shape=[2, 3])
    assert empty.indices.shape == (0, 2) and empty.dtype == np.float32
    np.testing.assert_array_equal(tf.sparse.to_dense(empty), np.zeros((2, 3)))
    assert tf.sparse.SparseTensor is tf.SparseTensor
    assert st1.with_values(st1.values * 2).values.tolist() == [20, 40]


@pytest.mark.parametrize("kwargs, match", [
    (dict(indices=[[0, 0], [1, 1]], values=[1, 2, 3], dense_shape=[2, 2]),
     r"values must have shape \[N\] = \[2\].*\(3,\)"),
    (dict(indices=[[0, 0], [2, 1]], values=[1, 2], dense_shape=[2, 2]),
     r"indices\[1\] = \[2, 1\] is outside dense_shape \[2, 2\]"),
    (dict(indices=[[0, -1]], values=[1], dense_shape=[2, 2]), r"indices\[0\] = \[0, -1\]"),
    (dict(indices=[[0, 0, 0]], values=[1], dense_shape=[2, 2]),
     r"indices must have shape \[N, 2\].*\(1, 3\)"),
    (dict(indices=[[0.5, 1.0]], values=[1], dense_shape=[2, 2]), "indices must be integers"),
    (dict(indices=[[0, 0]], values=[1], dense_shape=[2, -2]), "dense_shape must be non-neg"),
    (dict(indices=[[0, 0]], values=[[1]], dense_shape=[2, 2]), r"values must have shape"),
])
def test_bad_input_is_a_value_error_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tf.SparseTensor(**kwargs)


def test_with_values_and_string_values_are_checked():
    sp = tf.SparseTensor([[0]], [1.0], [3])
    with pytest.raises(ValueError, match=r"with_values: values must have shape \[N\] = \[1\]"):
        sp.with_values([1.0, 2.0])
    with pytest.raises(NotImplementedError, match="XLA holds no strings"):
        tf.SparseTensor([[0]], ["a"], [3])
    with pytest.raises(NotImplementedError, match="from_dense.*XLA holds no strings"):
        tf.sparse.from_dense(["a", ""])
    if not jax.config.jax_enable_x64:  # hashed ids: positions past int32 would wrap
        with pytest.raises(ValueError, match="positions past int32 indices.*jax_enable_x64"):
            tf.SparseTensor([[0, 2 ** 31]], [1.0], [1, 2 ** 40])


def test_a_pytree_through_jit_and_xf_function_as_argument_and_result():
    sp = tf.SparseTensor([[0, 1], [2, 0]], [1.5, -2.0], [3, 2])
    leaves, treedef = jax.tree_util.tree_flatten(sp)
    assert len(leaves) == 2 and jax.tree_util.tree_unflatten(treedef, leaves).shape == sp.shape
    doubled = jax.jit(lambda s: s.with_values(s.values * 2))(sp)
    assert isinstance(doubled, tf.SparseTensor) and doubled.shape.as_list() == [3, 2]
    np.testing.assert_array_equal(doubled.values, [3.0, -4.0])

    @tf.function
    def scale(s, k):
        return tf.sparse.map_values(tf.multiply, s, k), tf.sparse.to_dense(s)

    out, dense = scale(sp, 3.0)
    assert isinstance(out, tf.SparseTensor)
    np.testing.assert_array_equal(out.values, [4.5, -6.0])
    np.testing.assert_array_equal(dense, [[0, 1.5], [0, 0], [-2.0, 0]])
    scale(tf.SparseTensor([[1, 1], [0, 0]], [1.0, 2.0], [3, 2]), 3.0)
    assert scale.experimental_get_tracing_count() == 1  # same shapes: one trace
    scale(tf.SparseTensor([[1, 1]], [1.0], [5, 2]), 3.0)
    assert scale.experimental_get_tracing_count() == 2  # dense_shape is static: retrace


def test_dense_shape_stays_known_inside_xf_function():
    # the guide's pre-2.4 map_values pattern, inside a function: dense_shape is host data
    st2 = tf.sparse.from_dense([[1, 0, 0, 8], [0, 0, 0, 0], [0, 0, 3, 0]])
    plus_5 = tf.function(lambda s: tf.SparseTensor(s.indices, s.values + 5, s.dense_shape))
    np.testing.assert_array_equal(tf.sparse.to_dense(plus_5(st2)),
                                  [[6, 0, 0, 13], [0, 0, 0, 0], [0, 0, 8, 0]])
    assert st2.dense_shape.dtype == np.int64 and st2.dense_shape.numpy().tolist() == [3, 4]


def test_a_traced_dense_shape_is_refused():
    with pytest.raises(ValueError, match="dense_shape must be known"):
        jax.jit(lambda shape: tf.SparseTensor([[0]], [1.0], shape).values)(jnp.array([3]))


@settings(max_examples=12, deadline=None)
@given(case=dense_cases, default=st.sampled_from([0, -1]))
def test_from_dense_to_dense_and_reorder_match_numpy(case, default):
    seed, shape, density = case
    dense = _random_dense(seed, shape, density)
    sp = tf.sparse.from_dense(dense)
    np.testing.assert_array_equal(sp.indices, np.argwhere(dense != 0))
    want = np.where(dense != 0, dense, default)
    np.testing.assert_array_equal(tf.sparse.to_dense(sp, default_value=default), want)
    shuffled = _sparse_of(dense, shuffle_seed=seed)
    ordered = tf.sparse.reorder(shuffled)
    np.testing.assert_array_equal(ordered.indices, np.argwhere(dense != 0))
    np.testing.assert_array_equal(tf.sparse.to_dense(ordered), dense)
    np.testing.assert_array_equal(tf.function(tf.sparse.reorder)(shuffled).indices,
                                  ordered.indices)


def test_to_dense_validates_order_and_repeats_eagerly():
    unordered = tf.SparseTensor([[1, 0], [0, 1]], [1, 2], [2, 2])
    with pytest.raises(ValueError, match=r"indices\[1\] = \[0, 1\] is out of row-major order"):
        tf.sparse.to_dense(unordered)
    np.testing.assert_array_equal(tf.sparse.to_dense(unordered, validate_indices=False),
                                  [[0, 2], [1, 0]])
    with pytest.raises(ValueError, match="repeats"):
        tf.sparse.to_dense(tf.SparseTensor([[0, 1], [0, 1]], [1, 2], [2, 2]))


@settings(max_examples=12, deadline=None)
@given(case=dense_cases, seed_b=st.integers(0, 2 ** 16))
def test_add_sparse_sparse_and_sparse_dense_match_numpy(case, seed_b):
    seed, shape, density = case
    a, b = _random_dense(seed, shape, density), _random_dense(seed_b, shape, 0.4)
    total = tf.sparse.add(_sparse_of(a), _sparse_of(b))
    np.testing.assert_array_equal(tf.sparse.to_dense(total), a + b)
    np.testing.assert_array_equal(total.indices, np.argwhere((a != 0) | (b != 0)))
    np.testing.assert_array_equal(tf.sparse.add(_sparse_of(a), b), a + b)
    np.testing.assert_array_equal(tf.sparse.add(b, _sparse_of(a)), a + b)


def test_add_threshold_and_tracing():
    a = tf.SparseTensor([[0], [2]], [1.0, 5.0], [4])
    b = tf.SparseTensor([[0], [3]], [-0.5, 0.25], [4])
    kept = tf.sparse.add(a, b, threshold=0.4)
    np.testing.assert_array_equal(kept.indices, [[0], [2]])
    np.testing.assert_array_equal(kept.values, [0.5, 5.0])
    dense_add = tf.function(lambda s, d: tf.sparse.add(s, d))
    np.testing.assert_array_equal(dense_add(a, np.ones(4, np.float32)), [2, 1, 6, 1])
    with pytest.raises(TypeError, match="add: the result's number of entries.*eagerly"):
        tf.function(lambda x, y: tf.sparse.add(x, y))(a, b)
    with pytest.raises(ValueError, match="one dense_shape"):
        tf.sparse.add(a, tf.SparseTensor([[0]], [1.0], [5]))
    with pytest.raises(TypeError, match="dtype int32 but the SparseTensor holds float32"):
        tf.sparse.add(a, np.ones(4, np.int32))


@pytest.mark.parametrize("adjoint_a", [False, True])
@pytest.mark.parametrize("adjoint_b", [False, True])
def test_sparse_dense_matmul_adjoints_match_numpy(adjoint_a, adjoint_b):
    rng = np.random.default_rng(3)
    a = (_random_dense(1, (4, 3), 0.5) + 1j * _random_dense(2, (4, 3), 0.5)).astype(np.complex64)
    b = (rng.normal(size=(4, 2)) + 1j * rng.normal(size=(4, 2))).astype(np.complex64)
    b = b if adjoint_a else b[:3]
    b = b.conj().T if adjoint_b else b
    op_a = a.conj().T if adjoint_a else a
    op_b = b.conj().T if adjoint_b else b
    got = tf.sparse.sparse_dense_matmul(_sparse_of(a), b, adjoint_a, adjoint_b)
    np.testing.assert_allclose(got, op_a @ op_b, rtol=1e-5, atol=1e-5)
    # dense @ sparse: op(d) @ op(a), op the adjoint where asked
    op_sparse = a.conj().T if adjoint_b else a
    x = (rng.normal(size=(2, op_sparse.shape[0])) + 1j).astype(np.complex64)
    d = x.conj().T if adjoint_a else x
    got = tf.sparse.sparse_dense_matmul(d, _sparse_of(a), adjoint_a=adjoint_a,
                                        adjoint_b=adjoint_b)
    np.testing.assert_allclose(got, x @ op_sparse, rtol=1e-5, atol=1e-5)


def test_sparse_dense_matmul_in_xf_function_and_shape_errors():
    a = _random_dense(4, (5, 6), 0.3)
    b = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    f = tf.function(tf.sparse.sparse_dense_matmul)
    np.testing.assert_allclose(f(_sparse_of(a), b), a @ b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"inner dimensions differ: sp_a is \[5, 6\]"):
        tf.sparse.sparse_dense_matmul(_sparse_of(a), b[:4])
    with pytest.raises(ValueError, match="sp_a must have rank 2"):
        tf.sparse.sparse_dense_matmul(_sparse_of(np.ones(3, np.float32)), b)


def test_sparse_dense_matmul_gradients_match_the_dense_math():
    a = _random_dense(7, (4, 5), 0.5)
    where = np.argwhere(a != 0)
    b = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    w = np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32)

    def sparse_loss(values, dense_b):
        sp = tf.SparseTensor(where, values, a.shape)
        return jnp.sum(jnp.tanh(tf.sparse.sparse_dense_matmul(sp, dense_b)) * w)

    def dense_loss(values, dense_b):
        dense_a = jnp.zeros(a.shape).at[tuple(where.T)].set(values)
        return jnp.sum(jnp.tanh(dense_a @ dense_b) * w)

    values = a[tuple(where.T)]
    got = jax.grad(sparse_loss, argnums=(0, 1))(values, b)
    want = jax.grad(dense_loss, argnums=(0, 1))(values, b)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    with tf.GradientTape() as tape:
        dense_b = tf.Variable(b)
        loss = tf.reduce_sum(tf.sparse.sparse_dense_matmul(_sparse_of(a), dense_b) * w)
    np.testing.assert_allclose(tape.gradient(loss, dense_b), a.T @ w, rtol=1e-5, atol=1e-5)


def _numpy_sparse_max(dense, present, axis, keepdims):
    """TF's sparse reduce_max: the max of present elements; 0 where none reduce."""
    low = np.where(present, dense, -np.inf)
    best = np.max(low, axis=axis, keepdims=keepdims)
    return np.where(np.isneginf(best), 0, best)


@settings(max_examples=12, deadline=None)
@given(case=dense_cases, keepdims=st.booleans(), pick=st.integers(0, 7))
def test_reduce_sum_and_max_match_numpy(case, keepdims, pick):
    seed, shape, density = case
    dense = _random_dense(seed, shape, density)
    present = dense != 0
    axes = [None] + [d for d in range(len(shape))] + [-1, (0, len(shape) - 1)]
    axis = axes[pick % len(axes)]
    if isinstance(axis, tuple) and len({a % len(shape) for a in axis}) < 2:
        axis = None
    sp = _sparse_of(dense)
    np.testing.assert_allclose(tf.sparse.reduce_sum(sp, axis, keepdims),
                               np.sum(dense, axis=axis, keepdims=keepdims))
    np.testing.assert_allclose(tf.sparse.reduce_max(sp, axis, keepdims),
                               _numpy_sparse_max(dense, present, axis, keepdims))
    sparse_sum = tf.sparse.reduce_sum(sp, axis, keepdims, output_is_sparse=True)
    np.testing.assert_allclose(tf.sparse.to_dense(sparse_sum),
                               np.sum(dense, axis=axis, keepdims=keepdims))
    sparse_max = tf.sparse.reduce_max(sp, axis, keepdims, output_is_sparse=True)
    np.testing.assert_allclose(tf.sparse.to_dense(sparse_max),
                               _numpy_sparse_max(dense, present, axis, keepdims))


def test_reduce_max_of_entries_inside_xf_function_and_bad_axis():
    sp = tf.SparseTensor([[0, 1], [0, 2], [2, 0]], [-5, -3, 4], [3, 3])
    f = tf.function(lambda s: tf.sparse.reduce_max(s, axis=1))
    np.testing.assert_array_equal(f(sp), [-3, 0, 4])  # row 1 has no entries: 0, as TF
    with pytest.raises(ValueError, match=r"axis must be distinct ints in \[-2, 2\)"):
        tf.sparse.reduce_sum(sp, axis=2)
    with pytest.raises(TypeError, match="reduce_sum: the result's number of entries"):
        tf.function(lambda s: tf.sparse.reduce_sum(s, 0, output_is_sparse=True))(sp)


@settings(max_examples=4, deadline=None)
@given(case=dense_cases, expand=st.booleans())
def test_concat_reshape_expand_dims_and_transpose_match_numpy(case, expand):
    seed, shape, density = case
    a, b = _random_dense(seed, shape, density), _random_dense(seed + 1, shape, 0.5)
    for axis in (0, -1):
        joined = tf.sparse.concat(axis, [_sparse_of(a), _sparse_of(b)])
        np.testing.assert_array_equal(tf.sparse.to_dense(joined), np.concatenate([a, b], axis))
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sparse.reshape(_sparse_of(a), [-1, 2])),
                                  a.reshape(-1, 2))
    np.testing.assert_array_equal(
        tf.sparse.to_dense(tf.sparse.expand_dims(_sparse_of(a), axis=1 if expand else -1)),
        np.expand_dims(a, 1 if expand else -1))
    perm = np.random.default_rng(seed).permutation(len(shape)).tolist()
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sparse.transpose(_sparse_of(a), perm)),
                                  np.transpose(a, perm))
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sparse.transpose(_sparse_of(a))),
                                  a.T)


def test_concat_expand_nonconcat_dims_and_its_errors():
    a = _random_dense(1, (2, 3), 0.7)
    b = _random_dense(2, (4, 1), 0.7)
    grown = tf.sparse.concat(1, [_sparse_of(a), _sparse_of(b)], expand_nonconcat_dims=True)
    want = np.zeros((4, 4), np.float32)
    want[:2, :3], want[:, 3:] = a, b
    np.testing.assert_array_equal(tf.sparse.to_dense(grown), want)
    with pytest.raises(ValueError, match="dimension 0 differs.*expand_nonconcat_dims"):
        tf.sparse.concat(1, [_sparse_of(a), _sparse_of(b)])
    with pytest.raises(ValueError, match="cannot infer the -1"):
        tf.sparse.reshape(_sparse_of(a), [-1, 4])
    with pytest.raises(ValueError, match=r"perm must be a permutation of \[0, 1\]"):
        tf.sparse.transpose(_sparse_of(a), [0, 0])


def test_slice_retain_fill_empty_rows_match_numpy_and_need_known_indices():
    dense = _random_dense(5, (6, 5), 0.3)
    sp = _sparse_of(dense)
    part = tf.sparse.slice(sp, start=[1, 2], size=[3, 9])
    assert part.shape.as_list() == [3, 3]  # size clipped to the dense shape, as TF's
    np.testing.assert_array_equal(tf.sparse.to_dense(part), dense[1:4, 2:])
    assert tf.sparse.slice(sp, [0, 7], [6, 2]).shape.as_list() == [6, 0]
    keep = np.asarray(sp.values) > 0
    kept = tf.sparse.retain(sp, keep)
    np.testing.assert_array_equal(tf.sparse.to_dense(kept), np.where(dense > 0, dense, 0))
    filled, empty = tf.sparse.fill_empty_rows(sp, -7.0)
    want_empty = ~(dense != 0).any(axis=1)
    np.testing.assert_array_equal(empty, want_empty)
    want = dense.copy()
    want[want_empty, 0] = -7.0
    np.testing.assert_array_equal(tf.sparse.to_dense(filled), want)
    for op in (lambda s: tf.sparse.slice(s, [0, 0], [2, 2]),
               lambda s: tf.sparse.fill_empty_rows(s, 0.0),
               lambda s: tf.sparse.from_dense(tf.sparse.to_dense(s))):
        with pytest.raises(TypeError, match="depends on.*call it eagerly"):
            tf.function(op)(sp)
    # a known mask keeps retain usable inside xf.function (only the values are traced)
    np.testing.assert_array_equal(tf.function(lambda s: tf.sparse.retain(s, keep).values)(sp),
                                  np.asarray(sp.values)[keep])
    with pytest.raises(ValueError, match="to_retain must be a bool vector of length"):
        tf.sparse.retain(sp, keep[:-1])


def test_to_indicator_map_values_and_elementwise_products():
    ids = tf.SparseTensor([[0, 0], [0, 1], [2, 0]], [3, 1, 0], [3, 2])
    want = np.zeros((3, 4), bool)
    want[0, [3, 1]] = want[2, 0] = True
    np.testing.assert_array_equal(tf.sparse.to_indicator(ids, 4), want)
    np.testing.assert_array_equal(tf.function(lambda s: tf.sparse.to_indicator(s, 4))(ids), want)
    with pytest.raises(ValueError, match=r"values must be ids in \[0, 3\)"):
        tf.sparse.to_indicator(ids, 3)
    dense = _random_dense(9, (3, 4), 0.5)
    sp = _sparse_of(dense)
    other = sp.with_values(sp.values * 10)
    summed = tf.sparse.map_values(tf.add, sp, other)
    np.testing.assert_array_equal(tf.sparse.to_dense(summed), dense * 11)
    with pytest.raises(ValueError, match="must have the same indices"):
        tf.sparse.map_values(tf.add, sp, _sparse_of(dense.T.copy().reshape(3, 4)))
    with pytest.raises(ValueError, match="no SparseTensor"):
        tf.sparse.map_values(tf.add, 1, 2)
    row = np.arange(1, 5, dtype=np.float32)
    np.testing.assert_array_equal(tf.sparse.to_dense(sp * row), dense * row)
    np.testing.assert_array_equal(tf.sparse.to_dense(2.0 * sp), dense * 2)
    np.testing.assert_allclose(tf.sparse.to_dense(sp / row), dense / row)
    with pytest.raises(ValueError, match=r"shape \(5,\) does not broadcast"):
        sp * np.ones(5, np.float32)
    with pytest.raises(TypeError, match="both operands are SparseTensors"):
        sp * sp


def test_not_provided_names_say_what_instead():
    with pytest.raises(AttributeError, match="IndexedSlices"):
        getattr(tf.sparse, "mask")  # noqa: B009  (the attribute access is what is tested)
    assert not hasattr(tf.sparse, "no_such_op")


def test_shape_ops_reductions_and_products_inside_xf_function():
    a, b = _random_dense(11, (3, 4), 0.5), _random_dense(12, (3, 4), 0.5)
    row = np.arange(1, 5, dtype=np.float32)

    @tf.function
    def program(x, y):
        joined = tf.sparse.concat(0, [x, y])
        flat = tf.sparse.reshape(joined, [-1])
        turned = tf.sparse.transpose(tf.sparse.expand_dims(x, 0), [2, 1, 0])
        return (tf.sparse.to_dense(joined), tf.sparse.to_dense(flat),
                tf.sparse.to_dense(turned), tf.sparse.reduce_sum(x, axis=0, keepdims=True),
                tf.sparse.to_dense(x * row), tf.sparse.to_dense(x / row))

    joined, flat, turned, summed, product, quotient = program(_sparse_of(a), _sparse_of(b))
    np.testing.assert_array_equal(joined, np.concatenate([a, b]))
    np.testing.assert_array_equal(flat, np.concatenate([a, b]).ravel())
    np.testing.assert_array_equal(turned, np.transpose(a[None], [2, 1, 0]))
    np.testing.assert_array_equal(summed, a.sum(0, keepdims=True))
    np.testing.assert_array_equal(product, a * row)
    np.testing.assert_allclose(quotient, a / row)
