"""A functional graph carries Keras 2's symbolic masks: while the graph is written, layers
and Lambda functions that take `mask` are given one of the right shape (not None), and
each symbolic tensor's `_keras_mask` is the mask its real values will have.

Oracles: NumPy masked means over the steps worked out by hand; shapes by hand.
"""

import jax.numpy as jnp
import numpy as np

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(17)
B, T, F = 3, 5, 4
MASK = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0]], bool)
IDS = np.where(MASK, RNG.integers(1, 9, (B, T)), 0).astype(np.int32)


def _masked_mean(x, mask):
    return (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)


class MaskedMean(layers.Layer):
    """Keras user code that uses the mask with no None check (tf.keras builds it with one)."""

    def call(self, inputs, mask=None):
        weights = jnp.asarray(mask, inputs.dtype)[..., None]
        return jnp.sum(inputs * weights, axis=1) / jnp.sum(weights, axis=1)


def test_a_lambda_function_gets_a_mask_while_the_graph_is_written():
    seen = []

    def zero_the_padding(x, mask):  # no `mask is None` branch needed
        seen.append((tuple(mask.shape), mask.dtype))
        return x * jnp.asarray(mask, x.dtype)[..., None]

    inputs = xf.keras.Input((T,), dtype="int32")
    embedded = layers.Embedding(9, F, mask_zero=True)(inputs)
    zeroed = layers.Lambda(zero_the_padding)(embedded)
    assert seen and all(shape == (2, T) and dtype == jnp.bool_ for shape, dtype in seen)
    model = models.Model(inputs, layers.GlobalAveragePooling1D()(zeroed))
    x = model.get_weights()[0][IDS]
    # the Lambda drops the mask (Keras 2): the pooling averages every step, zeros included
    np.testing.assert_allclose(model.predict(IDS, verbose=0), (x * MASK[..., None]).mean(1),
                               rtol=1e-5, atol=1e-6)


def test_a_custom_layer_that_always_reads_the_mask_builds_and_runs():
    inputs = xf.keras.Input((None,), dtype="int32")  # a variable length too
    embedded = layers.Embedding(9, F, mask_zero=True)(inputs)
    model = models.Model(inputs, MaskedMean()(embedded))
    table = model.get_weights()[0]
    np.testing.assert_allclose(model.predict(IDS, verbose=0), _masked_mean(table[IDS], MASK),
                               rtol=1e-5, atol=1e-6)
    shorter = IDS[:, :3]  # other lengths, other masks: computed from the real inputs
    np.testing.assert_allclose(np.asarray(model(shorter)),
                               _masked_mean(table[shorter], MASK[:, :3]), rtol=1e-5, atol=1e-6)


def test_symbolic_tensors_carry_the_masks_their_values_will_have():
    inputs = xf.keras.Input((T,), dtype="int32")
    embedded = layers.Embedding(9, F, mask_zero=True)(inputs)
    assert inputs._keras_mask is None
    mask = embedded._keras_mask
    assert mask.shape == (None, T) and mask.dtype == jnp.bool_
    assert layers.Dense(3)(embedded)._keras_mask.shape == (None, T)  # passes it on
    sequences = layers.LSTM(6, return_sequences=True)(embedded)
    assert sequences._keras_mask.shape == (None, T)
    assert layers.LSTM(6)(embedded)._keras_mask is None  # one vector per example
    assert layers.Flatten()(embedded)._keras_mask is None
    assert layers.Lambda(lambda v: 2 * v)(embedded)._keras_mask is None  # Keras 2 drops it
    kept = layers.Lambda(lambda v: 2 * v, mask=lambda i, m: m)(embedded)
    assert kept._keras_mask.shape == (None, T)
    fixed = layers.Lambda(lambda v: v, mask=np.ones((B, T), bool))(embedded)
    assert fixed._keras_mask.shape == (None, T)  # a fixed mask for the real batch
    masked = layers.Masking(input_shape=(None, F))(xf.keras.Input((None, F)))
    assert masked._keras_mask.shape == (None, None)


def test_a_nested_model_passes_its_output_mask_to_the_outer_graph():
    ids = xf.keras.Input((T,), dtype="int32")
    inner = models.Model(ids, layers.Embedding(9, F, mask_zero=True)(ids))
    outer_ids = xf.keras.Input((T,), dtype="int32")
    embedded = inner(outer_ids)
    assert embedded._keras_mask.shape == (None, T)
    model = models.Model(outer_ids, MaskedMean()(embedded))
    table = inner.get_weights()[0]
    np.testing.assert_allclose(model.predict(IDS, verbose=0), _masked_mean(table[IDS], MASK),
                               rtol=1e-5, atol=1e-6)


def test_the_masked_output_trains_with_the_kept_steps_only():
    inputs = xf.keras.Input((T,), dtype="int32")
    embedded = layers.Embedding(9, F, mask_zero=True)(inputs)
    out = layers.Dense(1)(layers.Lambda(lambda v: v, mask=lambda i, m: m)(embedded))
    assert out._keras_mask.shape == (None, T)
    model = models.Model(inputs, out)
    model.compile("sgd", "mse")
    y = RNG.normal(size=(B, T, 1)).astype(np.float32)
    pred = np.asarray(model.predict(IDS, verbose=0), np.float64)
    se = ((pred - y) ** 2)[..., 0]
    np.testing.assert_allclose(model.evaluate(IDS, y, verbose=0),
                               (se * MASK).sum() / MASK.sum(), rtol=1e-5)


@xf.keras.saving.register_serializable(package="tests")
def masked_mean_over_time(x, mask):
    weights = jnp.asarray(mask, x.dtype)[..., None]
    return jnp.sum(x * weights, axis=1) / jnp.sum(weights, axis=1)


def test_a_graph_whose_lambda_always_reads_the_mask_saves_and_loads(tmp_path):
    from tests.local_platform import HERE
    inputs = xf.keras.Input((T,), dtype="int32")
    embedded = layers.Embedding(9, F, mask_zero=True)(inputs)
    model = models.Model(inputs, layers.Lambda(masked_mean_over_time)(embedded))
    model.save(tmp_path / "m", platforms=HERE)  # rebuilt and exported: masks given again
    loaded = models.load_model(tmp_path / "m")
    want = _masked_mean(model.get_weights()[0][IDS], MASK)
    np.testing.assert_allclose(loaded.predict(IDS, verbose=0), want, rtol=1e-5, atol=1e-6)
