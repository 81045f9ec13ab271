"""Attention and AdditiveAttention as tf.keras 2.12: dot, scaled and concat scores, Bahdanau
scores, the value and causal masks (1e9 subtracted from hidden scores), the query mask
zeroing outputs and becoming the output's mask, dropout, and clear input errors.

Oracle: a NumPy float64 implementation of Keras 2.12's documented formulas
(base_dense_attention.py: scores, `scores -= 1e9 * ~mask`, softmax, matmul, `*= q_mask`).
"""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models
from xlaflow.layers import keras_mask

RNG = np.random.default_rng(5)
B, TQ, TV, D = 3, 4, 5, 3
Q_MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]], bool)
V_MASK = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], bool)


def _floats(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def dot_scores(q, k, scale=None):
    s = np.einsum("bqd,bkd->bqk", q, k)
    return s if scale is None else s * scale


def concat_scores(q, k, weight, scale=None):
    pairs = q[:, :, None, :] + k[:, None, :, :]
    if scale is not None:
        pairs = scale * pairs
    return weight * np.tanh(pairs).sum(-1)


def additive_scores(q, k, scale=1.0):
    return (scale * np.tanh(q[:, :, None, :] + k[:, None, :, :])).sum(-1)


def reference(scores, v, q_mask=None, v_mask=None, causal=False):
    """(output, weights) from the (batch, Tq, Tv) scores, Keras 2.12's way: the 1e9 is
    subtracted in float32, as TF does (a row with every key hidden rounds to equal scores,
    so it averages the values), the rest in float64."""
    allowed = np.ones(np.shape(scores), bool)
    if v_mask is not None:
        allowed &= v_mask[:, None, :]
    if causal:
        allowed &= np.tril(np.ones(np.shape(scores)[-2:], bool))
    scores = np.float32(scores) - np.float32(1e9) * ~allowed
    weights = _softmax(scores.astype(np.float64))
    out = weights @ np.asarray(v, np.float64)
    if q_mask is not None:
        out = out * q_mask[..., None]
    return out, weights


def _close(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


def test_dot_scores_with_a_separate_key_match_the_formula():
    q, v, k = _floats(B, TQ, D), _floats(B, TV, 2), _floats(B, TV, D)
    out, weights = layers.Attention()([q, v, k], return_attention_scores=True)
    want_out, want_weights = reference(dot_scores(q, k), v)
    _close(out, want_out)
    _close(weights, want_weights)
    assert out.shape == (B, TQ, 2)  # the value's feature size


def test_learned_scale_multiplies_dot_scores_and_concat_uses_scale_inside_tanh():
    q, v = _floats(B, TQ, D), _floats(B, TV, D)
    dot = layers.Attention(use_scale=True)
    dot([q, v])
    dot.set_weights([np.float32(0.7)])
    _close(dot([q, v]), reference(dot_scores(q, v, 0.7), v)[0])

    concat = layers.Attention(use_scale=True, score_mode="concat")
    concat([q, v])
    assert [w.name for w in concat.weights] == [f"{concat.name}/scale",
                                                 f"{concat.name}/concat_score_weight"]
    concat.set_weights([np.float32(0.5), np.float32(-1.5)])
    _close(concat([q, v]), reference(concat_scores(q, v, -1.5, 0.5), v)[0])

    unscaled = layers.Attention(score_mode="concat")
    unscaled([q, v])
    unscaled.set_weights([np.float32(2.0)])  # concat_score_weight only
    _close(unscaled([q, v]), reference(concat_scores(q, v, 2.0), v)[0])


def test_additive_attention_scale_is_a_vector_of_the_value_size():
    q, v = _floats(B, TQ, D), _floats(B, TV, D)
    layer = layers.AdditiveAttention()
    layer([q, v])
    assert [tuple(w.shape) for w in layer.weights] == [(D,)]
    scale = np.array([0.3, -1.2, 2.0], np.float32)
    layer.set_weights([scale])
    _close(layer([q, v]), reference(additive_scores(q, v, scale), v)[0])
    plain = layers.AdditiveAttention(use_scale=False)
    _close(plain([q, v]), reference(additive_scores(q, v), v)[0])
    assert plain.weights == []


@pytest.mark.parametrize("causal", [False, True])
def test_value_mask_and_causal_mask_hide_keys_and_query_mask_zeroes_rows(causal):
    q, v = _floats(B, TQ, D), _floats(B, TQ, D)  # Tq == Tv for the causal mask
    v_mask = V_MASK[:, :TQ]
    out, weights = layers.Attention()([q, v], mask=[Q_MASK, v_mask],
                                      use_causal_mask=causal, return_attention_scores=True)
    want_out, want_weights = reference(dot_scores(q, v), v, Q_MASK, v_mask, causal)
    _close(out, want_out)
    _close(weights, want_weights)
    assert np.all(np.asarray(out)[~Q_MASK] == 0)
    assert np.all(np.asarray(keras_mask.get_mask(out)) == Q_MASK)  # the query's mask
    if causal:  # a later key gets no weight (batch 2's first query sees no key at all:
        # its equal scores average every value, as in Keras)
        later = np.triu_indices(TQ, 1)
        assert np.asarray(weights)[:2, later[0], later[1]].max() < 1e-6
        np.testing.assert_allclose(np.asarray(weights)[2, 0], 1 / TQ)


def test_causal_mask_with_more_keys_than_queries_is_lower_triangular_from_the_top_left():
    q, v = _floats(B, TQ, D), _floats(B, TV, D)
    _, weights = layers.AdditiveAttention(use_scale=False)(
        [q, v], use_causal_mask=True, return_attention_scores=True)
    _close(weights, reference(additive_scores(q, v), v, causal=True)[1])


def test_deprecated_causal_argument_of_keras2_configs_is_honoured():
    q, v = _floats(B, TQ, D), _floats(B, TQ, D)
    layer = layers.deserialize({"class_name": "Attention",
                                "config": {"name": "att", "causal": True, "dropout": 0.0,
                                           "use_scale": False}})
    assert layer.get_config()["causal"] is True
    _close(layer([q, v]), reference(dot_scores(q, v), v, causal=True)[0])


def test_masks_from_embeddings_reach_attention_in_a_functional_model():
    q_ids = np.where(Q_MASK, RNG.integers(1, 9, Q_MASK.shape), 0).astype(np.int32)
    v_ids = np.where(V_MASK, RNG.integers(1, 9, V_MASK.shape), 0).astype(np.int32)
    q_in, v_in = xf.keras.Input((TQ,), dtype="int32"), xf.keras.Input((TV,), dtype="int32")
    embed = layers.Embedding(9, D, mask_zero=True)
    out = layers.Attention()([embed(q_in), embed(v_in)])
    assert out._keras_mask is not None and out._keras_mask.shape == (None, TQ)
    model = models.Model([q_in, v_in], out)
    table = embed.get_weights()[0]
    q, v = table[q_ids], table[v_ids]
    _close(model([q_ids, v_ids]), reference(dot_scores(q, v), v, Q_MASK, V_MASK)[0])


def test_dropout_drops_weights_in_training_only_and_returns_the_dropped_weights():
    q, v = _floats(B, TQ, D), _floats(B, TV, D)
    layer = layers.Attention(dropout=0.5, seed=3)
    want_out, want_weights = reference(dot_scores(q, v), v)
    _close(layer([q, v]), want_out)  # inference: no dropout
    _close(layer([q, v], training=False), want_out)
    out, weights = layer([q, v], training=True, return_attention_scores=True)
    weights = np.asarray(weights)
    dropped = weights == 0
    assert 0 < dropped.mean() < 1
    _close(weights[~dropped], 2 * want_weights[~dropped])  # kept: scaled by 1 / (1 - rate)
    _close(out, weights.astype(np.float64) @ v)
    again = np.asarray(layer([q, v], training=True, return_attention_scores=True)[1])
    assert not np.array_equal(again == 0, dropped)  # a fresh key each call


def test_trains_in_fit_and_learns_its_scale():
    xf.keras.utils.set_random_seed(1)
    ids = RNG.integers(1, 9, (16, TV)).astype(np.int32)
    ids[:, 3:] = 0
    y = (ids[:, 0] > 4).astype(np.float32)
    x_in = xf.keras.Input((TV,), dtype="int32")
    h = layers.Embedding(9, 4, mask_zero=True)(x_in)
    attention = layers.Attention(use_scale=True, dropout=0.1)
    h = layers.GlobalAveragePooling1D()(attention([h, h]))
    model = models.Model(x_in, layers.Dense(1, activation="sigmoid")(h))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(ids, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert attention.get_weights()[0] != 1.0  # the scale was trained


def test_float16_masked_scores_stay_finite():
    q, v = _floats(B, TQ, D), _floats(B, TV, D)
    layer = layers.Attention(dtype="float16")
    out = layer([q, v], mask=[None, V_MASK])
    assert out.dtype == np.float16
    np.testing.assert_allclose(np.asarray(out, np.float32),
                               reference(dot_scores(q, v), v, v_mask=V_MASK)[0],
                               rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("make", [layers.Attention, layers.AdditiveAttention])
@pytest.mark.parametrize("inputs, match", [
    (lambda: _floats(B, TQ, D), r"list \[query, value\].*one tensor of shape \(3, 4, 3\)"),
    (lambda: [_floats(B, TQ, D)], "length 2 or 3.*received length 1"),
    (lambda: [_floats(B, TQ, D)] * 4, "length 2 or 3.*received length 4"),
    (lambda: [_floats(B, TQ, D), _floats(B, TV, D + 1), _floats(B, TV, D + 2)],
     r"last dimensions must be equal.*query \(3, 4, 3\), key \(3, 5, 5\)"),
    (lambda: [_floats(B, TQ, D), _floats(B, TV, D), _floats(B, TV + 1, D)],
     r"share.*value \(3, 5, 3\), key \(3, 6, 3\)"),
    (lambda: [_floats(B, TQ, D), _floats(B + 1, TV, D)], r"share.*query \(3, 4, 3\)"),
    (lambda: [_floats(B, D), _floats(B, D)], r"query must have rank >= 3.*\(3, 3\)"),
])
def test_bad_inputs_are_refused_before_any_weight_is_made(make, inputs, match):
    layer = make(use_scale=True)
    with pytest.raises(ValueError, match=match):
        layer(inputs())
    assert layer.weights == [] and not layer.built


def test_additive_scale_needs_the_value_size_to_match_the_key():
    layer = layers.AdditiveAttention()
    with pytest.raises(ValueError, match=r"value \(3, 5, 2\), key \(3, 5, 3\)"):
        layer([_floats(B, TQ, D), _floats(B, TV, 2), _floats(B, TV, D)])
    assert layer.weights == []


def test_bad_masks_and_arguments_are_refused():
    q, v = _floats(B, TQ, D), _floats(B, TV, D)
    with pytest.raises(ValueError, match=r"mask must be a list \[query_mask, value_mask\]"):
        layers.Attention()([q, v], mask=[Q_MASK])
    with pytest.raises(ValueError, match=r"value mask.*\(3, 5\); received \(3, 4\)"):
        layers.Attention()([q, v], mask=[Q_MASK, Q_MASK])
    with pytest.raises(ValueError, match="score_mode must be 'dot' or 'concat'; received 'add'"):
        layers.Attention(score_mode="add")
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\); received 1.5"):
        layers.AdditiveAttention(dropout=1.5)


def test_compute_mask_is_the_query_mask():
    q, v = _floats(B, TQ, D), _floats(B, TV, D)
    layer = layers.Attention()
    assert layer.compute_mask([q, v]) is None
    assert layer.compute_mask([q, v], [None, V_MASK]) is None
    np.testing.assert_array_equal(layer.compute_mask([q, v], [Q_MASK, V_MASK]), Q_MASK)


def test_inside_xf_function_matches_eager_with_masks():
    q, v = _floats(B, TQ, D), _floats(B, TV, D)
    layer = layers.Attention(use_scale=True, score_mode="concat")
    eager = layer([q, v], mask=[Q_MASK, V_MASK])
    step = xf.function(lambda q, v, qm, vm: layer([q, v], mask=[qm, vm]))
    _close(step(q, v, Q_MASK, V_MASK), np.asarray(eager, np.float64))
