"""MultiHeadAttention's masks as tf.keras (TF >= 2.10): the query's, value's and key's
padding masks, attention_mask and use_causal_mask, combined by logical and; the output
carries the query's mask.

Oracle: a NumPy multi-head attention in float64 whose masked logits are set to -1e9 before
the softmax (Keras' Softmax(mask)), given the mask worked out by hand from the padding.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras import layers, models
from xlaflow.layers import keras_mask

RNG = np.random.default_rng(11)
B, T, S, F, HEADS, KEY_DIM = 3, 5, 6, 4, 2, 3
# row 2 of the query has no kept step: its row of logits is all -1e9 (uniform weights)
Q_MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
V_MASK = np.array([[1, 1, 0, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 0, 1, 1, 1, 1]], bool)


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def reference(layer, query, value, key=None, allowed=None):
    """(output, attention scores) of `layer`'s weights in NumPy float64; `allowed`
    (batch, T, S) marks the keys each query may attend to."""
    key = value if key is None else key

    def project(name, x):
        kernel, bias = (np.asarray(w.numpy(), np.float64) for w in layer.projections[name])
        return np.einsum("btd,dhk->bthk", x, kernel) + bias

    q = project("query", query) / np.sqrt(KEY_DIM)
    logits = np.einsum("bqhd,bkhd->bhqk", q, project("key", key))
    if allowed is not None:
        logits = np.where(allowed[:, None], logits, -1e9)
    weights = _softmax(logits)
    context = np.einsum("bhqk,bkhd->bqhd", weights, project("value", value))
    out = np.einsum("bqhd,hdo->bqo", context, layer.output_kernel.numpy()) + \
        layer.output_bias.numpy()
    return out, weights


def _ids(mask, vocab=9):
    return np.where(mask, RNG.integers(1, vocab, mask.shape), 0).astype(np.int32)


def _assert_close(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


def test_padding_masks_of_query_and_value_mask_the_attention():
    q_ids, v_ids = _ids(Q_MASK), _ids(V_MASK)
    q_in = xf.keras.Input((T,), dtype="int32")
    v_in = xf.keras.Input((S,), dtype="int32")
    q_emb = layers.Embedding(9, F, mask_zero=True)(q_in)
    v_emb = layers.Embedding(9, F, mask_zero=True)(v_in)
    mha = layers.MultiHeadAttention(HEADS, KEY_DIM)
    out, scores = mha(q_emb, v_emb, return_attention_scores=True)
    model = models.Model([q_in, v_in], [out, scores])
    got_out, got_scores = model([q_ids, v_ids])
    q_table, v_table = (layer.get_weights()[0] for layer in model.layers
                        if isinstance(layer, layers.Embedding))
    allowed = Q_MASK[:, :, None] & V_MASK[:, None, :]
    want_out, want_scores = reference(mha, q_table[q_ids], v_table[v_ids], allowed=allowed)
    _assert_close(got_out, want_out)
    _assert_close(got_scores, want_scores)
    assert np.all(np.asarray(got_scores)[..., ~V_MASK.any(0)] == 0)  # no row sees a pad
    # the output carries the query's mask; the scores carry none
    np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(got_out)), Q_MASK)
    assert keras_mask.get_mask(got_scores) is None
    # and the unmasked layer differs: the masks did something
    plain, _ = reference(mha, q_table[q_ids], v_table[v_ids])
    assert not np.allclose(np.asarray(got_out)[Q_MASK], plain[Q_MASK], atol=1e-3)


def test_a_key_mask_of_its_own_is_combined_with_the_value_mask():
    query = RNG.normal(size=(B, T, F)).astype(np.float32)
    value = RNG.normal(size=(B, S, F)).astype(np.float32)
    key = RNG.normal(size=(B, S, F)).astype(np.float32)
    k_mask = np.array([[1, 0, 1, 1, 1, 1]] * B, bool)
    value, key = jnp.asarray(value), jnp.asarray(key)
    keras_mask.set_mask(value, jnp.asarray(V_MASK))
    keras_mask.set_mask(key, jnp.asarray(k_mask))
    mha = layers.MultiHeadAttention(HEADS, KEY_DIM)
    out = mha(query, value, key)
    allowed = np.broadcast_to((V_MASK & k_mask)[:, None, :], (B, T, S))
    _assert_close(out, reference(mha, query, np.asarray(value), np.asarray(key), allowed)[0])
    assert keras_mask.get_mask(out) is None  # the query had no mask


def test_causal_mask_and_attention_mask_combine_with_the_padding_masks():
    query = RNG.normal(size=(B, T, F)).astype(np.float32)
    value = jnp.asarray(RNG.normal(size=(B, S, F)).astype(np.float32))
    keras_mask.set_mask(value, jnp.asarray(V_MASK))
    explicit = RNG.random((B, T, S)) < 0.8
    mha = layers.MultiHeadAttention(HEADS, KEY_DIM)
    out, scores = mha(query, value, attention_mask=explicit, use_causal_mask=True,
                      return_attention_scores=True)
    causal = np.arange(S)[None, :] <= np.arange(T)[:, None]  # (T, S): key step <= query's
    allowed = explicit & causal[None] & V_MASK[:, None, :]
    want_out, want_scores = reference(mha, query, np.asarray(value), allowed=allowed)
    _assert_close(out, want_out)
    _assert_close(scores, want_scores)
    # each alone: the causal mask on its own lets a query see only its past
    _, causal_scores = mha(query, query, use_causal_mask=True, return_attention_scores=True)
    assert np.all(np.asarray(causal_scores)[..., ~causal[:, :T]] == 0)


def test_self_attention_model_pools_only_the_kept_steps():
    ids = _ids(V_MASK)
    inputs = xf.keras.Input((S,), dtype="int32")
    x = layers.Embedding(9, F, mask_zero=True)(inputs)
    mha = layers.MultiHeadAttention(HEADS, KEY_DIM)
    outputs = layers.GlobalAveragePooling1D()(mha(x, x))
    model = models.Model(inputs, outputs)
    table = next(layer for layer in model.layers
                 if isinstance(layer, layers.Embedding)).get_weights()[0]
    seq, _ = reference(mha, table[ids], table[ids],
                       allowed=V_MASK[:, :, None] & V_MASK[:, None, :])
    want = (seq * V_MASK[..., None]).sum(1) / V_MASK.sum(1, keepdims=True)
    _assert_close(model.predict(ids, verbose=0), want)
    # padding added at the end changes nothing, in a traced call too
    padded = np.concatenate([ids, np.zeros((B, 2), ids.dtype)], 1)
    _assert_close(xf.function(model)(padded), want)


def test_mixed_float16_keeps_the_query_mask_through_the_cast():
    query = jnp.asarray(RNG.normal(size=(B, T, F)).astype(np.float32))
    keras_mask.set_mask(query, jnp.asarray(Q_MASK))
    value = jnp.asarray(RNG.normal(size=(B, S, F)).astype(np.float32))
    keras_mask.set_mask(value, jnp.asarray(V_MASK))
    mha = layers.MultiHeadAttention(HEADS, KEY_DIM, dtype="mixed_float16")
    out, scores = mha(query, value, return_attention_scores=True)
    assert out.dtype == jnp.float16
    allowed = Q_MASK[:, :, None] & V_MASK[:, None, :]
    want_out, want_scores = reference(mha, np.asarray(query), np.asarray(value),
                                      allowed=allowed)
    np.testing.assert_allclose(np.asarray(out, np.float32), want_out, rtol=2e-2, atol=2e-2)
    np.testing.assert_allclose(np.asarray(scores, np.float32), want_scores, atol=5e-3)
    np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(out)), Q_MASK)


@pytest.mark.parametrize("shape", [(B, T, S - 1), (B, S, T), (2, T, S)])
def test_an_attention_mask_of_the_wrong_shape_is_refused_before_the_weights_exist(shape):
    mha = layers.MultiHeadAttention(HEADS, KEY_DIM, name="mha_bad")
    query = RNG.normal(size=(B, T, F)).astype(np.float32)
    value = RNG.normal(size=(B, S, F)).astype(np.float32)
    with pytest.raises(ValueError, match=rf"mha_bad .*attention_mask must have shape "
                                         rf"\(batch, T, S\) = \({B}, {T}, {S}\).*received "
                                         rf"\({shape[0]}, {shape[1]}, {shape[2]}\)"):
        mha(query, value, attention_mask=np.ones(shape, bool))
    assert mha.weights == []
    # one that broadcasts (a single (T, S) pattern for every example) is taken
    assert mha(query, value, attention_mask=np.ones((T, S), bool)).shape == (B, T, F)


def test_an_input_mask_of_the_wrong_shape_names_the_input():
    mha = layers.MultiHeadAttention(HEADS, KEY_DIM, name="mha_pad")
    query = RNG.normal(size=(B, T, F)).astype(np.float32)
    value = jnp.asarray(RNG.normal(size=(B, S, F)).astype(np.float32))
    keras_mask.set_mask(value, jnp.asarray(Q_MASK))  # (B, T): the query's length, not S
    with pytest.raises(ValueError, match=rf"mha_pad .*value's mask must have the value's "
                                         rf"shape without its feature axis, \({B}, {S}\); "
                                         rf"received \({B}, {T}\)"):
        mha(query, value)
    assert mha.weights == []
    with pytest.raises(ValueError, match="key and value must have the same"):
        mha(query, value, np.zeros((B, S + 1, F), np.float32))


def test_get_keras_mask_reads_the_mask_a_layer_attached_eagerly_and_symbolically():
    ids = np.array([[3, 1, 0, 0], [2, 0, 0, 0]], np.int32)
    out = layers.Embedding(5, 2, mask_zero=True)(ids)
    np.testing.assert_array_equal(keras.backend.get_keras_mask(out), ids != 0)
    assert keras.backend.get_keras_mask(jnp.zeros(3)) is None
    symbolic = layers.Embedding(5, 2, mask_zero=True)(keras.Input((None,), dtype="int32"))
    assert keras.backend.get_keras_mask(symbolic) is symbolic._keras_mask is not None
