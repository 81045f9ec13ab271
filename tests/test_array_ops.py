"""TF-named array ops (xlaflow/array_ops.py) against NumPy and TF's documented examples."""

import numpy as np
import pytest

import xlaflow as xf

RNG = np.random.default_rng(12)
P = RNG.normal(size=(3, 4, 5)).astype(np.float32)


def test_linspace_includes_both_ends():
    np.testing.assert_allclose(xf.linspace(-2, 2, 201), np.linspace(-2, 2, 201), atol=1e-6)
    np.testing.assert_allclose(xf.linspace(10.0, 12.0, 3), [10.0, 11.0, 12.0])


def test_gather_axis_and_batch_dims():
    idx = np.array([[0, 2], [3, 1]])
    np.testing.assert_array_equal(xf.gather(P, [2, 0]), P[[2, 0]])
    np.testing.assert_array_equal(xf.gather(P, idx, axis=1), np.take(P, idx, axis=1))
    np.testing.assert_array_equal(xf.gather(P, idx, axis=-1), np.take(P, idx, axis=2))
    batch_idx = np.array([[1, 1, 4], [0, 2, 3], [4, 4, 0]])
    expected = np.stack([np.take(P[b], batch_idx[b], axis=1) for b in range(3)])
    np.testing.assert_array_equal(xf.gather(P, batch_idx, axis=2, batch_dims=1), expected)
    with pytest.raises(ValueError, match="batch_dims"):
        xf.gather(P, idx, axis=0, batch_dims=1)
    # TF refuses batch dimensions that differ (JAX's vmap said only 'inconsistent sizes')
    with pytest.raises(ValueError, match=r"share their first 1 dimensions.*\(3, 4, 5\).*"
                                         r"\(2, 2\)"):
        xf.gather(P, idx, axis=1, batch_dims=1)


def test_eager_gather_refuses_an_index_out_of_range_as_tf_on_cpu():
    with pytest.raises(xf.errors.InvalidArgumentError,
                       match=r"^indices\[1\] = 3 is not in \[0, 3\) \[Op:GatherV2\]$"):
        xf.gather(P, [0, 3])
    with pytest.raises(xf.errors.InvalidArgumentError, match=r"indices\[1,0\] = -1 is not in"):
        xf.gather(P, np.array([[1, 2], [-1, 0]]), axis=2)  # TF: no negative indices
    with pytest.raises(xf.errors.InvalidArgumentError, match=r"indices\[2,2\] = 5"):
        xf.gather(P, np.array([[1, 1, 4], [0, 2, 3], [4, 4, 5]]), axis=2, batch_dims=1)
    # traced indices are not checked (XLA fills, as TF's GPU kernel)
    np.testing.assert_array_equal(xf.function(lambda i: xf.gather(P, i))(np.array([2, 0])),
                                  P[[2, 0]])


def test_gather_nd_as_tf_documents():
    np.testing.assert_array_equal(xf.gather_nd([[1, 2], [3, 4]], [[0, 0], [1, 1]]), [1, 4])
    np.testing.assert_array_equal(xf.gather_nd([[1, 2], [3, 4]], [[1], [0]]),
                                  [[3, 4], [1, 2]])
    idx = np.array([[[1], [3]], [[0], [0]], [[2], [1]]])
    np.testing.assert_array_equal(xf.gather_nd(P, idx, batch_dims=1),
                                  np.stack([P[b, idx[b, :, 0]] for b in range(3)]))


def test_tile_split_unstack():
    np.testing.assert_array_equal(xf.tile(P[0], [2, 1]), np.tile(P[0], (2, 1)))
    with pytest.raises(ValueError, match="one entry per axis"):
        xf.tile(P, [2])
    parts = xf.split(P, [1, -1, 2], axis=2)
    assert [p.shape[2] for p in parts] == [1, 2, 2]
    np.testing.assert_array_equal(np.concatenate(parts, axis=2), P)
    assert [p.shape for p in xf.split(P, 2, axis=1)] == [(3, 2, 5), (3, 2, 5)]
    with pytest.raises(ValueError, match="3 equal pieces"):
        xf.split(P, 3, axis=1)
    with pytest.raises(ValueError, match="do not add up"):
        xf.split(P, [1, 1], axis=2)
    rows = xf.unstack(P, axis=1)
    assert len(rows) == 4
    np.testing.assert_array_equal(rows[2], P[:, 2])


def test_pad_modes_as_tf_documents():
    t = np.array([[1, 2, 3], [4, 5, 6]])
    paddings = [[1, 1], [2, 2]]
    np.testing.assert_array_equal(xf.pad(t, paddings, "REFLECT"), [
        [6, 5, 4, 5, 6, 5, 4], [3, 2, 1, 2, 3, 2, 1],
        [6, 5, 4, 5, 6, 5, 4], [3, 2, 1, 2, 3, 2, 1]])
    np.testing.assert_array_equal(xf.pad(t, paddings, "SYMMETRIC"), [
        [2, 1, 1, 2, 3, 3, 2], [2, 1, 1, 2, 3, 3, 2],
        [5, 4, 4, 5, 6, 6, 5], [5, 4, 4, 5, 6, 6, 5]])
    np.testing.assert_array_equal(xf.pad(t, paddings, constant_values=-1),
                                  np.pad(t, paddings, constant_values=-1))
    with pytest.raises(ValueError, match="mode='wrap'"):
        xf.pad(t, paddings, mode="wrap")


def test_reverse_sort_argsort_sequence_mask():
    np.testing.assert_array_equal(xf.reverse(P, [0, 2]), P[::-1, :, ::-1])
    np.testing.assert_array_equal(xf.sort(P, direction="DESCENDING"), -np.sort(-P))
    order = xf.argsort(P[0, 0])
    assert order.dtype == np.int32
    np.testing.assert_array_equal(order, np.argsort(P[0, 0]))
    with pytest.raises(ValueError, match="direction"):
        xf.sort(P, direction="down")
    np.testing.assert_array_equal(xf.sequence_mask([1, 3, 2], 5), [
        [True, False, False, False, False], [True, True, True, False, False],
        [True, True, False, False, False]])
    np.testing.assert_array_equal(xf.sequence_mask([[1, 3], [2, 0]]), [
        [[True, False, False], [True, True, True]],
        [[True, True, False], [False, False, False]]])
    assert xf.sequence_mask([2], 3, dtype=xf.float32).dtype == np.float32


def test_repeat_roll_meshgrid_and_scatters():
    np.testing.assert_array_equal(xf.repeat([1, 2], 2), [1, 1, 2, 2])
    np.testing.assert_array_equal(xf.repeat(P[:, :2, 0], [1, 2], axis=1),
                                  np.repeat(P[:, :2, 0], [1, 2], axis=1))
    np.testing.assert_array_equal(xf.roll(P, [1, -2], axis=[0, 2]),
                                  np.roll(P, (1, -2), axis=(0, 2)))
    gx, gy = xf.meshgrid(np.arange(3), np.arange(2))
    np.testing.assert_array_equal(gx, np.meshgrid(np.arange(3), np.arange(2))[0])
    assert gy.shape == (2, 3)
    # TF's documented examples
    np.testing.assert_array_equal(xf.scatter_nd([[4], [3], [1], [7]], [9, 10, 11, 12], [8]),
                                  [0, 11, 0, 10, 9, 0, 0, 12])
    np.testing.assert_array_equal(xf.scatter_nd([[1], [1]], [2, 3], [3]), [0, 5, 0])
    np.testing.assert_array_equal(
        xf.tensor_scatter_nd_update([1, 2, 3, 4], [[1], [3]], [9, 10]), [1, 9, 3, 10])
    np.testing.assert_array_equal(
        xf.tensor_scatter_nd_add(np.ones((2, 2)), [[0, 1]], [5.0]), [[1, 6], [1, 1]])


def test_boolean_mask_eagerly_and_its_refusal_in_compiled_code():
    np.testing.assert_array_equal(xf.boolean_mask([0, 1, 2, 3], [True, False, True, False]),
                                  [0, 2])
    np.testing.assert_array_equal(xf.boolean_mask(P, P[:, 0, 0] > 0), P[P[:, 0, 0] > 0])
    np.testing.assert_array_equal(xf.boolean_mask(P, [True, False, True, False], axis=1),
                                  P[:, [0, 2]])

    @xf.function
    def f(x):
        return xf.boolean_mask(x, x > 0)

    with pytest.raises(TypeError, match="tf.where"):
        f(np.ones(3, np.float32))


@pytest.mark.parametrize("mode, paddings, match", [
    ("REFLECT", [[3, 0]], r"REFLECT.*at most 2"),   # TF: <= dim - 1
    ("REFLECT", [[0, 3]], r"REFLECT.*at most 2"),
    ("SYMMETRIC", [[4, 0]], r"SYMMETRIC.*at most 3"),  # TF: <= dim
    ("CONSTANT", [[-1, 1]], "non-negative"),
    ("SYMMETRIC", [[0, -1]], "non-negative"),
])
def test_pad_refuses_widths_tf_refuses(mode, paddings, match):
    # jnp reflects again past the edge (REFLECT by 3 on [1, 2, 3] gave [2, 3, 2, 1, 2, 3])
    # where TF's MirrorPad refuses; a negative width is no padding TF knows either
    with pytest.raises(ValueError, match=match):
        xf.pad([1, 2, 3], paddings, mode)


def test_pad_at_the_mirror_limits_matches_numpy():
    t = np.arange(1, 4)
    np.testing.assert_array_equal(xf.pad(t, [[2, 2]], "REFLECT"),
                                  np.pad(t, 2, mode="reflect"))
    np.testing.assert_array_equal(xf.pad(t, [[3, 3]], "SYMMETRIC"),
                                  np.pad(t, 3, mode="symmetric"))


def test_sequence_mask_traced_without_maxlen_says_to_pass_it():
    # the mask's width is the largest length: a value XLA needs before the program runs
    with pytest.raises(ValueError, match="maxlen"):
        xf.function(lambda n: xf.sequence_mask(n))(np.int32([1, 3]))
    np.testing.assert_array_equal(
        xf.function(lambda n: xf.sequence_mask(n, 4))(np.int32([1, 3])),
        np.arange(4) < np.array([[1], [3]]))


def test_reshape_to_a_shape_that_cannot_hold_the_tensor_is_tfs_invalid_argument_error():
    # JAX raised a TypeError (or a ZeroDivisionError for an empty tensor); TF's messages
    t = xf.zeros([3, 2, 5])
    for shape, message in (
            ([7, -1], "tensor with 30 values, but the requested shape requires a multiple "
                      "of 7"),
            ([4, 8], "tensor with 30 values, but the requested shape has 32"),
            ([-1, -1], "Only one input size may be -1, not both 0 and 1"),
            ([-2, 15], "Size 0 must be non-negative, not -2"),
            ([0, -1], "cannot infer the missing input size for an empty tensor")):
        with pytest.raises(xf.errors.InvalidArgumentError, match=message):
            xf.reshape(t, shape)
    with pytest.raises(xf.errors.InvalidArgumentError, match="empty tensor"):
        xf.reshape(xf.zeros([0, 3]), [0, -1])
    assert xf.reshape(t, [2, -1]).shape == (2, 15)
    assert xf.reshape(xf.zeros([0, 3]), [3, 0]).shape == (3, 0)


def test_where_selects_or_gives_the_true_coordinates_as_tf():
    condition = np.array([[True, False, True], [False, False, True]])
    np.testing.assert_array_equal(xf.where(condition), np.argwhere(condition))
    assert xf.where(condition).shape == (3, 2)
    np.testing.assert_array_equal(xf.where(np.arange(4) > 1), [[2], [3]])
    np.testing.assert_array_equal(xf.where(condition, 1.0, -1.0),
                                  np.where(condition, 1.0, -1.0))
    with pytest.raises(ValueError, match="give both x and y"):
        xf.where(condition, 1.0)

    @xf.function
    def coordinates(x):
        return xf.where(x > 0)

    with pytest.raises(NotImplementedError, match=r"only known at run time.*jnp.argwhere"):
        coordinates(np.ones(3, np.float32))
