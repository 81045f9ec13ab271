"""Lambda's masks as tf.keras: the function is given the input mask when it takes `mask`;
the output's mask is `mask(inputs, input_mask)`, a fixed mask, or none (the default).

Oracle: NumPy masked means and products over the steps worked out by hand.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models
from xlaflow.layers import keras_mask

RNG = np.random.default_rng(5)
B, T, F = 3, 5, 4
MASK = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0]], bool)
IDS = np.where(MASK, RNG.integers(1, 9, (B, T)), 0).astype(np.int32)


@xf.keras.saving.register_serializable(package="tests")
def zero_the_padding(x, mask=None):
    # None when the input carries no mask (a functional graph gives one while it is written)
    return x if mask is None else x * jnp.asarray(mask, x.dtype)[..., None]


@xf.keras.saving.register_serializable(package="tests")
def without_the_first_step(inputs, mask):
    return mask.at[:, 0].set(False)


def _pooled_model(lambda_layer):
    inputs = xf.keras.Input((T,), dtype="int32")
    embedded = layers.Embedding(9, F, mask_zero=True)(inputs)
    model = models.Model(inputs, layers.GlobalAveragePooling1D()(lambda_layer(embedded)))
    table = model.get_weights()[0]
    return model, table[IDS]


def _masked_mean(x, mask):
    return (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)


def test_the_function_gets_the_input_mask_and_a_callable_mask_makes_the_output_mask():
    model, x = _pooled_model(layers.Lambda(zero_the_padding, mask=without_the_first_step))
    kept = MASK.copy()
    kept[:, 0] = False
    np.testing.assert_allclose(model.predict(IDS, verbose=0),
                               _masked_mean(x * MASK[..., None], kept), rtol=1e-5, atol=1e-6)
    embedded = layers.Embedding(9, F, mask_zero=True)(IDS)
    out = layers.Lambda(zero_the_padding, mask=without_the_first_step)(embedded)
    # the padded steps are zeros: the function was given the embedding's mask
    np.testing.assert_array_equal(np.asarray(out), np.asarray(embedded) * MASK[..., None])
    assert np.abs(np.asarray(embedded)[~MASK]).sum() > 0
    np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(out)), kept)


def test_without_mask_the_lambda_drops_the_input_mask_as_keras_2():
    model, x = _pooled_model(layers.Lambda(lambda v: 2 * v))
    np.testing.assert_allclose(model.predict(IDS, verbose=0), (2 * x).mean(1), rtol=1e-5,
                               atol=1e-6)  # every step counts: no mask reached the pooling
    layer = layers.Lambda(lambda v: 2 * v)
    assert not layer.supports_masking
    assert keras_mask.get_mask(layer(layers.Embedding(9, F, mask_zero=True)(IDS))) is None


def test_a_fixed_mask_is_the_output_mask_and_must_fit_the_output():
    fixed = np.array([[1, 0, 1, 1, 1]] * B, bool)
    x = RNG.normal(size=(B, T, F)).astype(np.float32)
    layer = layers.Lambda(lambda v: v + 1, mask=fixed.astype(np.int32))  # nonzero keeps
    out = layer(x)
    np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(out)), fixed)
    pooled = layers.GlobalAveragePooling1D()(out)
    np.testing.assert_allclose(np.asarray(pooled), _masked_mean(x + 1, fixed), rtol=1e-5)
    # in a functional model too: the shape pass (a placeholder batch) does not check it
    inputs = xf.keras.Input((T, F))
    model = models.Model(inputs, layers.GlobalAveragePooling1D()(
        layers.Lambda(lambda v: v + 1, mask=fixed)(inputs)))
    np.testing.assert_allclose(np.asarray(model(x)), _masked_mean(x + 1, fixed), rtol=1e-5)
    bad = layers.Lambda(lambda v: v, mask=np.ones((B, T + 1), bool), name="fixed_bad")
    with pytest.raises(ValueError, match=r"fixed_bad \(Lambda\): the mask of output 0 must "
                                         r"have the output's leading shape, \(3, 5\) for an "
                                         r"output of shape \(3, 5, 4\); received \(3, 6\)"):
        bad(x)


def test_a_mask_function_of_the_wrong_shape_is_refused():
    layer = layers.Lambda(lambda v: v[:, :2], mask=lambda inputs, mask: mask, name="cut")
    with pytest.raises(ValueError, match=r"cut \(Lambda\).*\(3, 2\) for an output of shape "
                                         r"\(3, 2, 4\); received \(3, 5\)"):
        layer(RNG.normal(size=(B, T, F)).astype(np.float32), mask=jnp.asarray(MASK))


def test_the_function_gets_the_training_flag():
    def dropout_like(x, training=None):
        return x * (0.0 if training else 1.0)
    model = models.Sequential([xf.keras.Input((F,)), layers.Lambda(dropout_like)])
    x = RNG.normal(size=(B, F)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(model(x, training=True)), 0.0)


def test_the_mask_saves_by_name_or_as_booleans():
    layer = layers.Lambda(zero_the_padding, mask=without_the_first_step)
    config = layer.get_config()
    assert config["mask"] == "tests>without_the_first_step"
    again = layers.Lambda.from_config(config)
    assert again.mask is without_the_first_step and again.supports_masking
    fixed = layers.Lambda(zero_the_padding, mask=MASK)
    config = fixed.get_config()
    assert config["mask"] == MASK.tolist()
    np.testing.assert_array_equal(np.asarray(layers.Lambda.from_config(config).mask), MASK)
    unnamed = layers.Lambda(zero_the_padding, mask=lambda inputs, mask: mask)
    with pytest.raises(ValueError, match="its mask function .* has no name to load it by"):
        unnamed.get_config()
    assert layers.Lambda(zero_the_padding).get_config()["mask"] is None
