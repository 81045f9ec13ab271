"""Compiled losses on a masked output, as newer tf.keras (Keras 2's apply_valid_mask): with
'sum_over_batch_size' the weighted sum over the kept steps divided by how many are kept
(TF <= 2.11 divided by every step); with 'sum' the weighted sum over the kept steps.

Oracles: per-step losses in NumPy from the model's predictions, reduced by hand, and
jax.grad of a plain jax.numpy masked loss for the weights that fit moves.
"""

import jax
import jax.numpy as jnp
import numpy as np

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(13)
B, T, F, CLASSES = 3, 6, 4, 5
MASK = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]], bool)
IDS = np.where(MASK, RNG.integers(1, 9, (B, T)), 0).astype(np.int32)
LABELS = RNG.integers(0, CLASSES, (B, T)).astype(np.int32)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _tagger(reduction="sum_over_batch_size"):
    """Embedding(mask_zero=True) -> SimpleRNN(return_sequences) -> Dense logits: the output
    carries the ids' mask."""
    model = models.Sequential([xf.keras.Input((T,), dtype="int32"),
                               layers.Embedding(9, F, mask_zero=True),
                               layers.SimpleRNN(8, return_sequences=True),
                               layers.Dense(CLASSES)])
    model.compile("sgd", xf.keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction=reduction))
    return model


def _step_losses(model):
    logits = np.asarray(model.predict(IDS, verbose=0), np.float64)
    return -np.take_along_axis(_log_softmax(logits), LABELS[..., None], -1)[..., 0]


def test_sum_over_batch_size_divides_by_the_kept_steps():
    model = _tagger()
    step = _step_losses(model)
    want = (step * MASK).sum() / MASK.sum()
    np.testing.assert_allclose(model.evaluate(IDS, LABELS, verbose=0), want, rtol=1e-5)
    # not the TF <= 2.11 value, the same sum divided by every step
    assert abs(want - (step * MASK).sum() / MASK.size) > 1e-2


def test_sample_weights_scale_the_kept_steps_and_the_count_stays_the_steps():
    model = _tagger()
    step = _step_losses(model)
    weights = np.array([2.0, 0.5, 1.0], np.float32)
    want = (step * weights[:, None] * MASK).sum() / MASK.sum()  # kept steps, not weights
    np.testing.assert_allclose(model.evaluate(IDS, LABELS, sample_weight=weights, verbose=0),
                               want, rtol=1e-5)


def test_sum_reduction_adds_the_kept_steps_only():
    model = _tagger("sum")
    want = (_step_losses(model) * MASK).sum()
    np.testing.assert_allclose(model.evaluate(IDS, LABELS, verbose=0), want, rtol=1e-5)


def test_a_batch_with_every_step_masked_has_zero_loss_not_nan():
    model = _tagger()
    zeros = np.zeros_like(IDS)
    assert model.evaluate(zeros, LABELS, verbose=0) == 0.0
    history = model.fit(zeros, LABELS, epochs=1, batch_size=B, verbose=0)
    assert history.history["loss"] == [0.0]
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_each_output_of_a_two_output_model_is_reduced_by_its_own_mask():
    inputs = xf.keras.Input((T,), dtype="int32")
    embedded = layers.Embedding(9, F, mask_zero=True)(inputs)
    tags = layers.Dense(CLASSES, name="tags")(embedded)  # carries the mask
    flat = layers.Dense(1, name="flat")(layers.Flatten()(embedded))  # Flatten drops it
    model = models.Model(inputs, [tags, flat])
    model.compile("sgd", {"tags": xf.keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), "flat": "mse"}, loss_weights={"tags": 1.0, "flat": 0.5})
    y_flat = RNG.normal(size=(B, 1)).astype(np.float32)
    logits, pred_flat = (np.asarray(p, np.float64) for p in model.predict(IDS, verbose=0))
    step = -np.take_along_axis(_log_softmax(logits), LABELS[..., None], -1)[..., 0]
    tags_loss = (step * MASK).sum() / MASK.sum()
    flat_loss = np.mean((pred_flat - y_flat) ** 2)
    total, got_tags, got_flat = model.evaluate(IDS, {"tags": LABELS, "flat": y_flat},
                                               verbose=0)
    np.testing.assert_allclose([got_tags, got_flat], [tags_loss, flat_loss], rtol=1e-5)
    np.testing.assert_allclose(total, tags_loss + 0.5 * flat_loss, rtol=1e-5)


def test_fit_follows_the_gradient_of_the_masked_mean():
    model = models.Sequential([layers.Masking(input_shape=(T, F)), layers.Dense(1)])
    w0 = RNG.normal(size=(F, 1)).astype(np.float32)
    b0 = np.array([0.1], np.float32)
    model.set_weights([w0, b0])
    model.compile(xf.keras.optimizers.SGD(0.5), "mse")
    x = np.where(MASK[..., None], RNG.normal(size=(B, T, F)), 0.0).astype(np.float32)
    y = RNG.normal(size=(B, T, 1)).astype(np.float32)

    def masked_mse(w, b):
        se = jnp.mean((x @ w + b - y) ** 2, axis=-1)
        return jnp.sum(se * MASK) / MASK.sum()

    grad_w, grad_b = jax.grad(masked_mse, argnums=(0, 1))(w0, b0)
    model.fit(x, y, epochs=1, batch_size=B, verbose=0)
    w1, b1 = model.get_weights()
    np.testing.assert_allclose(w1, w0 - 0.5 * np.asarray(grad_w), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b0 - 0.5 * np.asarray(grad_b), rtol=1e-5, atol=1e-6)
