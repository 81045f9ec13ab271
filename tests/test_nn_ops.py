"""xf.nn's TF ops against NumPy formulas written from their definitions."""

import numpy as np
import pytest

import xlaflow as xf

RNG = np.random.default_rng(3)
X = RNG.normal(size=(4, 5)).astype(np.float32) * 3


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("op, oracle", [
    (xf.nn.relu, lambda x: np.maximum(x, 0)),
    (xf.nn.relu6, lambda x: np.clip(x, 0, 6)),
    (lambda x: xf.nn.leaky_relu(x, alpha=0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (xf.nn.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    (xf.nn.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    (xf.nn.softplus, lambda x: np.log1p(np.exp(x))),
    (xf.nn.softsign, lambda x: x / (1 + np.abs(x))),
    (xf.nn.swish, lambda x: x / (1 + np.exp(-x))),
    (lambda x: xf.nn.silu(x, beta=2.0), lambda x: x / (1 + np.exp(-2 * x))),
    (xf.nn.softmax, lambda x: np.exp(_log_softmax(x))),
    (lambda x: xf.nn.softmax(x, axis=0), lambda x: np.exp(_log_softmax(x.T)).T),
    (xf.nn.log_softmax, _log_softmax),
])
def test_activations(op, oracle):
    np.testing.assert_allclose(op(X), oracle(X.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_sigmoid_cross_entropy_is_the_binary_log_loss():
    z = (RNG.random(X.shape) > 0.5).astype(np.float32)
    p = 1 / (1 + np.exp(-X.astype(np.float64)))
    expected = -(z * np.log(p) + (1 - z) * np.log(1 - p))
    got = xf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=X)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        xf.nn.sigmoid_cross_entropy_with_logits(labels=z[:, :2], logits=X)
    with pytest.raises(ValueError, match="labels is required"):
        xf.nn.sigmoid_cross_entropy_with_logits(logits=X)


def test_softmax_cross_entropies_dense_and_sparse():
    labels = np.array([0, 4, 2, 1])
    onehot = np.eye(5, dtype=np.float32)[labels]
    expected = -_log_softmax(X.astype(np.float64))[np.arange(4), labels]
    np.testing.assert_allclose(xf.nn.softmax_cross_entropy_with_logits(onehot, X),
                               expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        xf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=X),
        expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        xf.nn.sparse_softmax_cross_entropy_with_logits(labels=onehot, logits=X)


def test_l2_loss_is_half_the_sum_of_squares():
    np.testing.assert_allclose(xf.nn.l2_loss(X), (X.astype(np.float64) ** 2).sum() / 2,
                               rtol=1e-5)


def test_dropout_zeroes_at_rate_and_rescales_the_rest():
    x = np.ones((200, 100), np.float32)
    y = np.asarray(xf.nn.dropout(x, rate=0.25))
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02  # 20000 draws: std of the rate ~0.003
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\); received 1.0"):
        xf.nn.dropout(x, rate=1.0)


def test_sigmoid_cross_entropy_gradient_is_sigmoid_minus_label_even_at_zero_and_extremes():
    # d/dx of the binary log loss is sigmoid(x) - z (closed form); TF's kernel gives it at
    # x = 0 too, and stays finite at |x| = 1e4
    import jax
    import jax.numpy as jnp

    from xlaflow import losses
    x = np.array([[0.0, 0.0, 1e4, -1e4, 2.5], [-1e4, 1e4, 0.0, 30.0, -3.0]], np.float32)
    z = np.array([[1.0, 0.0, 0.0, 1.0, 0.3], [0.0, 1.0, 0.5, 0.0, 1.0]], np.float32)
    expected = 0.5 * (1 + np.tanh(x.astype(np.float64) / 2)) - z  # sigmoid, no overflow
    grad = jax.grad(lambda lg: jnp.sum(
        xf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=lg)))(x)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)
    # Keras' binary_crossentropy(from_logits=True) is the mean of the same over the last axis
    keras_grad = jax.grad(lambda lg: jnp.sum(
        losses.binary_crossentropy(z, lg, from_logits=True)))(x)
    np.testing.assert_allclose(keras_grad, expected / x.shape[-1], rtol=1e-6, atol=1e-6)


def test_softmax_cross_entropy_gradients_are_softmax_minus_labels_at_extreme_logits():
    import jax
    import jax.numpy as jnp
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 30.0]], np.float32)
    labels = np.array([1, 2])
    onehot = np.eye(3, dtype=np.float32)[labels]
    shifted = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
    expected = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True) - onehot
    dense = jax.grad(lambda lg: jnp.sum(
        xf.nn.softmax_cross_entropy_with_logits(onehot, lg)))(x)
    sparse = jax.grad(lambda lg: jnp.sum(
        xf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=lg)))(x)
    np.testing.assert_allclose(dense, expected, atol=1e-6)
    np.testing.assert_allclose(sparse, expected, atol=1e-6)


def test_sparse_cross_entropy_labels_out_of_range_give_nan_not_another_class():
    # TF's kernel (GPU) gives NaN for a label outside [0, classes); a negative label must
    # not silently pick a class from the end
    logits = np.zeros((4, 3), np.float32)
    labels = np.array([3, -1, 0, 2])
    got = np.asarray(xf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                   logits=logits))
    assert np.isnan(got[:2]).all()
    np.testing.assert_allclose(got[2:], np.log(3.0), rtol=1e-6)
    from xlaflow import losses
    keras_values = np.asarray(losses.sparse_categorical_crossentropy(labels, logits,
                                                                     from_logits=True))
    np.testing.assert_array_equal(np.isnan(keras_values), [True, True, False, False])


def test_dropout_noise_shape_none_entries_take_x_sizes_and_masks_broadcast():
    # TF: noise_shape=[None, 1] keeps or drops whole rows, None meaning x's size there
    xf.random.set_seed(0)  # seeded: the bound below cannot flake
    x = np.ones((400, 30), np.float32)
    y = np.asarray(xf.nn.dropout(x, rate=0.5, noise_shape=[None, 1]))
    rows_dropped = (y == 0).all(axis=1)
    rows_kept = (y == 2.0).all(axis=1)
    assert (rows_dropped | rows_kept).all()
    assert abs(rows_dropped.mean() - 0.5) < 0.1  # 400 rows: std of the rate ~0.025


def test_dropout_refuses_integer_x_and_takes_a_tensor_rate():
    with pytest.raises(ValueError, match="x must be a floating tensor.*int32"):
        xf.nn.dropout(np.ones(4, np.int32), rate=0.5)
    import jax.numpy as jnp
    xf.random.set_seed(1)
    y = np.asarray(xf.nn.dropout(np.ones(2000, np.float32), rate=jnp.float32(0.2)))
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.8)}
    assert abs((y == 0).mean() - 0.2) < 0.04  # std of the rate ~0.009


def test_dropout_rate_zero_is_the_identity():
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(xf.nn.dropout(x, rate=0.0), x)
