"""Keras 2 masking: Masking, Embedding(mask_zero=True), mask propagation through layers and
models, the masked recurrence, masked pooling and merges, and masked losses and metrics.

Oracles: plain NumPy step loops of SimpleRNN/LSTM/GRU with Keras 2's backend.rnn mask rule
(a masked step keeps the states and repeats the previous output, zeros before the first
kept step, or zeros with zero_output_for_mask), NumPy masked means, hand-computed losses.
"""

import gc

import jax
import jax.extend
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models
from xlaflow.layers import keras_mask

RNG = np.random.default_rng(7)
B, T, F, U = 3, 6, 4, 5
# step 0 masked in row 0 (zeros before the first kept step), gaps, a trailing pad
MASK = np.array([[0, 1, 1, 0, 1, 0],
                 [1, 1, 1, 1, 0, 0],
                 [1, 0, 0, 1, 1, 1]], bool)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _cell(kind, x_t, states, kernel, recurrent, bias):
    """One unmasked step of the NumPy reference recurrence."""
    h = states[0]
    if kind == "SimpleRNN":
        return (np.tanh(x_t @ kernel + h @ recurrent + bias),)
    if kind == "LSTM":
        i, f, g, o = np.split(x_t @ kernel + h @ recurrent + bias, 4, axis=-1)
        c = _sigmoid(f) * states[1] + _sigmoid(i) * np.tanh(g)
        return _sigmoid(o) * np.tanh(c), c
    xz, xr, xh = np.split(x_t @ kernel + bias[0], 3, axis=-1)  # GRU, reset_after
    hz, hr, hh = np.split(h @ recurrent + bias[1], 3, axis=-1)
    z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
    return (z * h + (1 - z) * np.tanh(xh + r * hh),)


def reference_rnn(kind, x, mask, weights, go_backwards=False, initial=None,
                  zero_output=False):
    """(outputs per step in processing order, final states) by Keras 2's masked rule."""
    n_states = 2 if kind == "LSTM" else 1
    states = tuple(np.zeros((x.shape[0], U)) for _ in range(n_states)) if initial is None \
        else tuple(np.asarray(s, np.float64) for s in initial)
    previous = np.zeros((x.shape[0], U))
    outputs = []
    for t in (range(x.shape[1])[::-1] if go_backwards else range(x.shape[1])):
        new = _cell(kind, x[:, t], states, *weights)
        keep = mask[:, t][:, None]
        out = np.where(keep, new[0], 0.0 if zero_output else previous)
        states = tuple(np.where(keep, n, s) for n, s in zip(new, states))
        outputs.append(out)
        previous = out
    return np.stack(outputs, 1), states


def _weights(kind):
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
    bias_shape = (2, 3 * U) if kind == "GRU" else (gates * U,)
    return [RNG.normal(0, 0.5, (F, gates * U)), RNG.normal(0, 0.5, (U, gates * U)),
            RNG.normal(0, 0.5, bias_shape)]


def _rnn(kind, **kwargs):
    layer = getattr(layers, kind)(U, **kwargs)
    weights = _weights(kind)
    layer(np.zeros((1, T, F), np.float32))  # build
    layer.set_weights(weights)
    return layer, weights


X = RNG.normal(size=(B, T, F)).astype(np.float32)


# -- the masked recurrence -----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_masked_recurrence_matches_the_numpy_step_loop(kind, go_backwards, return_sequences):
    layer, weights = _rnn(kind, go_backwards=go_backwards, return_sequences=return_sequences,
                          return_state=True)
    out, *states = layer(X, mask=MASK)
    want_seq, want_states = reference_rnn(kind, X, MASK, weights, go_backwards)
    want = want_seq if return_sequences else want_seq[:, -1]
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5, atol=1e-5)
    for got, expected in zip(states, want_states):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)
    # a masked step never moved the state: a fully kept copy of the kept steps agrees
    assert not np.allclose(np.asarray(out), np.asarray(layer(X)[0]))


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM"])
def test_initial_state_with_a_masked_first_step_outputs_zeros_but_keeps_the_state(kind):
    layer, weights = _rnn(kind, return_sequences=True, return_state=True)
    initial = [RNG.normal(size=(B, U)).astype(np.float32) for _ in
               range(2 if kind == "LSTM" else 1)]
    out, *states = layer(X, initial_state=initial if kind == "LSTM" else initial[0],
                         mask=MASK)
    want_seq, want_states = reference_rnn(kind, X, MASK, weights, initial=initial)
    np.testing.assert_allclose(np.asarray(out), want_seq, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(out)[0, 0], 0.0)  # row 0, step 0 is masked
    for got, expected in zip(states, want_states):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)


def test_zero_output_for_mask_gives_zeros_at_masked_steps():
    layer, weights = _rnn("GRU", return_sequences=True, zero_output_for_mask=True)
    want, _ = reference_rnn("GRU", X, MASK, weights, zero_output=True)
    got = np.asarray(layer(X, mask=MASK))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got[~MASK], 0.0)
    assert layer.get_config()["zero_output_for_mask"] is True


def _primitives(jaxpr):
    for eqn in jaxpr.eqns:
        yield eqn
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            yield from _primitives(sub)


@pytest.mark.parametrize("kind, states", [("SimpleRNN", 1), ("LSTM", 2), ("GRU", 1)])
def test_masked_recurrence_is_one_scan_with_one_select_per_state(kind, states):
    layer, _ = _rnn(kind, return_sequences=True)
    jaxpr = jax.make_jaxpr(lambda x, m: layer(x, mask=m))(X, MASK).jaxpr
    scans = [e for e in jaxpr.eqns if e.primitive.name == "scan"]
    assert len(scans) == 1 and scans[0].params["length"] == T
    body = scans[0].params["jaxpr"].jaxpr
    selects = [e for e in _primitives(body) if e.primitive.name == "select_n"]
    assert len(selects) == states


def test_a_mask_of_the_wrong_shape_is_refused():
    layer, _ = _rnn("SimpleRNN")
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, time\) = \(3, 6\)"):
        layer(X, mask=MASK[:, :4])


@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_with_a_mask_matches_two_numpy_loops(return_sequences):
    bi = layers.Bidirectional(layers.LSTM(U, return_sequences=return_sequences))
    bi(X)
    forward, backward = _weights("LSTM"), _weights("LSTM")
    bi.set_weights(forward + backward)
    got = np.asarray(bi(X, mask=MASK))
    # Keras 2 forces zero_output_for_mask = return_sequences on both directions
    f_seq, _ = reference_rnn("LSTM", X, MASK, forward, zero_output=return_sequences)
    b_seq, _ = reference_rnn("LSTM", X, MASK, backward, go_backwards=True,
                             zero_output=return_sequences)
    want = np.concatenate([f_seq, b_seq[:, ::-1]], -1) if return_sequences else \
        np.concatenate([f_seq[:, -1], b_seq[:, -1]], -1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    mask_out = bi.compute_mask(X, MASK)
    assert (mask_out is None) != return_sequences


# -- Masking and Embedding -----------------------------------------------------------------
def test_masking_zeroes_the_padded_steps_and_computes_their_mask():
    x = X.copy()
    x[~MASK] = 0.5
    x[0, 1, :2] = 0.5  # only some features equal mask_value: the step is kept
    layer = layers.Masking(mask_value=0.5)
    out = layer(x)
    np.testing.assert_array_equal(np.asarray(out), np.where(MASK[..., None], x, 0.0))
    np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(out)), MASK)
    np.testing.assert_array_equal(np.asarray(layer.compute_mask(x)), MASK)
    with pytest.raises(TypeError, match="mask_value must be a number"):
        layers.Masking(mask_value="pad")


def test_embedding_mask_zero_masks_index_zero_and_keeps_it_in_its_config():
    ids = np.where(MASK, RNG.integers(1, 9, (B, T)), 0)
    emb = layers.Embedding(9, F, mask_zero=True)
    out = emb(ids)
    np.testing.assert_array_equal(np.asarray(emb.compute_mask(ids)), ids != 0)
    np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(out)), ids != 0)
    assert emb.get_config()["mask_zero"] is True
    assert layers.Embedding.from_config(emb.get_config()).mask_zero
    assert keras_mask.get_mask(layers.Embedding(9, F)(ids)) is None


# -- propagation through layers and models -------------------------------------------------
def _ids():
    return np.where(MASK, RNG.integers(1, 9, (B, T)), 0)


def test_sequential_passes_the_embedding_mask_to_the_rnn():
    ids = _ids()
    model = models.Sequential([layers.Embedding(9, F, mask_zero=True),
                               layers.SimpleRNN(U, return_sequences=True),
                               layers.Dense(2)])
    model(ids)
    table, kernel, recurrent, bias, dense_w, dense_b = model.get_weights()
    seq, _ = reference_rnn("SimpleRNN", table[ids], MASK, (kernel, recurrent, bias))
    want = seq @ dense_w + dense_b
    np.testing.assert_allclose(model.predict(ids, verbose=0), want, rtol=1e-5, atol=1e-5)
    out = model(ids)  # Dense passes the sequence mask on to the model's output
    np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(out)), MASK)


def test_functional_model_masks_pooling_and_drops_the_mask_after_a_last_output():
    inputs = xf.keras.Input((T, F))
    masked = layers.Masking()(inputs)
    average = layers.GlobalAveragePooling1D()(masked)
    maximum = layers.GlobalMaxPooling1D()(masked)
    last = layers.LSTM(U)(masked)
    model = models.Model(inputs, [average, maximum, last])
    x = np.where(MASK[..., None], X, 0.0).astype(np.float32)
    got_avg, got_max, got_last = model(x)
    kept = MASK[..., None]
    np.testing.assert_allclose(np.asarray(got_avg), (x * kept).sum(1) / kept.sum(1),
                               rtol=1e-6, atol=1e-7)  # a GPU sums in another order
    # Keras 2's GlobalMaxPooling1D does not support masking: the padded zeros count
    np.testing.assert_allclose(np.asarray(got_max), x.max(1), rtol=1e-6)
    for out in (got_avg, got_max, got_last):
        assert keras_mask.get_mask(out) is None


def test_dense_dropout_activation_and_time_distributed_pass_the_mask_through():
    inputs = xf.keras.Input((T,), dtype="int32")
    y = layers.Embedding(9, F, mask_zero=True)(inputs)
    outputs = [layers.Dense(3)(y), layers.Dropout(0.5)(y), layers.Activation("relu")(y),
               layers.TimeDistributed(layers.Dense(2))(y), layers.LayerNormalization()(y)]
    model = models.Model(inputs, outputs)
    for out in model(_ids(), training=True):
        np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(out)), MASK)


def test_time_distributed_unfolds_the_inner_layer_mask():
    words = np.where(RNG.random((B, T, 3)) < 0.4, 0, RNG.integers(1, 9, (B, T, 3)))
    layer = layers.TimeDistributed(layers.Embedding(9, F, mask_zero=True))
    out = layer(words)
    np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(out)), words != 0)


def test_a_layer_without_mask_support_drops_the_mask_and_refuses_one_directly():
    ids = _ids()
    model = models.Sequential([layers.Embedding(9, F, mask_zero=True), layers.Flatten()])
    assert keras_mask.get_mask(model(ids)) is None  # TF 2's Keras: dropped, no error
    with pytest.raises(TypeError, match="does not support masking"):
        layers.Flatten().compute_mask(X, MASK)


def test_merges_combine_masks_as_keras_2():
    other = np.array([[1, 1, 1, 1, 0, 0]] * B, bool)
    a, b = xf.keras.Input((T, F)), xf.keras.Input((T, F))
    ma, mb = layers.Masking()(a), layers.Masking()(b)
    model = models.Model([a, b], [layers.Add()([ma, mb]), layers.Concatenate()([ma, b]),
                                  layers.Concatenate(axis=1)([ma, mb]),
                                  layers.multiply([ma, b])])
    xa = np.where(MASK[..., None], X, 0.0).astype(np.float32)
    xb = np.where(other[..., None], X + 1, 0.0).astype(np.float32)
    added, features, steps, product = model([xa, xb])
    expected = [MASK & other, MASK, np.concatenate([MASK, other], 1), MASK]
    for out, want in zip((added, features, steps, product), expected):
        np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(out)), want)
    with pytest.raises(ValueError, match="mask must be a list"):
        layers.Add().compute_mask([xa, xb], MASK)


def test_masks_propagate_inside_xf_function_as_eagerly():
    emb = layers.Embedding(9, F, mask_zero=True)
    rnn = layers.GRU(U, return_sequences=True)
    ids = _ids()
    eager = np.asarray(rnn(emb(ids)))
    traced = np.asarray(xf.function(lambda i: rnn(emb(i)))(ids))
    np.testing.assert_allclose(traced, eager, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(eager, np.asarray(rnn(emb(ids), mask=ids != 0)), rtol=1e-6)


def test_a_mask_lives_as_long_as_its_array():
    gc.collect()
    before = len(keras_mask._MASKS)
    out = layers.Masking()(X)
    assert len(keras_mask._MASKS) == before + 1
    del out
    gc.collect()
    assert len(keras_mask._MASKS) == before


# -- losses and metrics --------------------------------------------------------------------
def _sequence_model():
    model = models.Sequential([layers.Masking(input_shape=(T, F)), layers.Dense(1)])
    w = RNG.normal(size=(F, 1)).astype(np.float32)
    model.set_weights([w, np.array([0.3], np.float32)])
    return model, w


def test_evaluate_weighs_each_step_by_the_output_mask_as_keras_2():
    model, w = _sequence_model()
    model.compile("sgd", "mse", metrics=["mae"], weighted_metrics=["mse"])
    x = np.where(MASK[..., None], X, 0.0).astype(np.float32)
    y = RNG.normal(size=(B, T, 1)).astype(np.float32)
    weights = np.array([1.0, 2.0, 0.5], np.float32)
    loss, mae, wmse = model.evaluate(x, y, sample_weight=weights, verbose=0)
    pred = x @ w + 0.3
    step_se = ((pred - y) ** 2)[..., 0]
    combined = weights[:, None] * MASK
    # newer tf.keras (apply_valid_mask): the weighted sum over the kept steps divided by
    # their number (TF <= 2.11 divided by every step, B * T); test_masking_losses.py
    np.testing.assert_allclose(loss, (step_se * combined).sum() / MASK.sum(), rtol=1e-5)
    step_ae = np.abs(pred - y)[..., 0]
    np.testing.assert_allclose(mae, (step_ae * MASK).sum() / MASK.sum(), rtol=1e-5)
    np.testing.assert_allclose(wmse, (step_se * combined).sum() / combined.sum(), rtol=1e-5)


def test_fit_ignores_the_targets_of_masked_steps():
    x = np.where(MASK[..., None], X, 0.0).astype(np.float32)
    y = RNG.normal(size=(B, T, 1)).astype(np.float32)
    y_other = np.where(MASK[..., None], y, 100.0).astype(np.float32)
    start = _sequence_model()[0].get_weights()
    trained = []
    for targets in (y, y_other):
        model, _ = _sequence_model()
        model.set_weights(start)
        model.compile(xf.keras.optimizers.SGD(0.1), "mse")
        history = model.fit(x, targets, epochs=3, batch_size=B, verbose=0)
        trained.append((history.history["loss"], model.get_weights()))
    # Equal up to float32 rounding (XLA:CPU's threaded reductions may sum in another order
    # from run to run: seen 2e-8 apart); a target the mask let through (100 instead of
    # ~1) would move the weights by far more.
    np.testing.assert_allclose(trained[0][0], trained[1][0], rtol=1e-5)
    for a, b, s in zip(trained[0][1], trained[1][1], start):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        assert not np.allclose(a, s)  # it did train


def test_compiled_loss_in_a_custom_train_step_sees_the_mask():
    model, w = _sequence_model()
    model.compile("sgd", "mse")
    x = np.where(MASK[..., None], X, 0.0).astype(np.float32)
    y = RNG.normal(size=(B, T, 1)).astype(np.float32)
    loss = float(model.compiled_loss(y, model(x)))
    pred = x @ w + 0.3
    np.testing.assert_allclose(loss, (((pred - y) ** 2)[..., 0] * MASK).sum() / MASK.sum(),
                               rtol=1e-5)


def test_a_masked_model_ignores_padding_and_saves_and_loads(tmp_path):
    inputs = xf.keras.Input((None,), dtype="int32")
    y = layers.Embedding(9, F, mask_zero=True)(inputs)
    y = layers.Bidirectional(layers.GRU(U, return_sequences=True))(y)
    outputs = layers.GlobalAveragePooling1D()(y)
    model = models.Model(inputs, outputs)
    ids = _ids()
    expected = model.predict(ids, verbose=0)
    # padded steps change nothing: masked outputs are zeros, and the average skips them
    padded = np.concatenate([ids, np.zeros((B, 3), ids.dtype)], 1)
    np.testing.assert_allclose(model.predict(padded, verbose=0), expected, rtol=1e-5,
                               atol=1e-6)
    model.save(tmp_path / "masked")
    loaded = models.load_model(tmp_path / "masked")
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), expected, rtol=1e-6)


def test_a_float16_output_keeps_its_mask_for_the_loss():
    model = models.Sequential([layers.Masking(input_shape=(T, F)),
                               layers.Dense(1, dtype="mixed_float16")])
    w = RNG.normal(size=(F, 1)).astype(np.float32)
    model.set_weights([w, np.array([0.3], np.float32)])
    model.compile("sgd", "mse")
    x = np.where(MASK[..., None], X, 0.0).astype(np.float32)
    y = RNG.normal(size=(B, T, 1)).astype(np.float32)
    assert model(x).dtype == np.float16
    pred = x @ w + 0.3
    want = (((pred - y) ** 2)[..., 0] * MASK).sum() / MASK.sum()
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), want, rtol=1e-2)
