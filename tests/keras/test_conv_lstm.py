"""ConvLSTM1D/2D/3D against a float64 NumPy loop written from Keras 2's ConvLSTMCell (explicit
patch loops, TF's 'same' padding), and their shapes, config, training and .h5 saving."""

import itertools

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras import layers

RNG = np.random.default_rng(21)
TOL = {"rtol": 1e-4, "atol": 1e-5}


def hard_sigmoid(z):  # Keras 2's: max(0, min(1, 0.2 z + 0.5))
    return np.maximum(0.0, np.minimum(1.0, 0.2 * z + 0.5))


def conv_numpy(x, w, strides, padding, dilation):
    """TF's conv of x (batch, *spatial, in) with w (*k, in, out), by explicit patches."""
    k = w.shape[:-2]
    spatial = x.shape[1:-1]
    if padding == "valid":
        out = [(n - (kk - 1) * d - 1) // s + 1 for n, kk, s, d in
               zip(spatial, k, strides, dilation)]
        before = [0] * len(k)
    else:  # TF's SAME: ceil(n / s) outputs, the padding's smaller half before
        out = [-(-n // s) for n, s in zip(spatial, strides)]
        before = [max((o - 1) * s + (kk - 1) * d + 1 - n, 0) // 2 for o, s, kk, d, n in
                  zip(out, strides, k, dilation, spatial)]
    x = x.astype(np.float64)
    y = np.zeros((x.shape[0], *out, w.shape[-1]))
    for pos in itertools.product(*map(range, out)):
        for tap in itertools.product(*map(range, k)):
            at = [p * s + t * d - b for p, s, t, d, b in
                  zip(pos, strides, tap, dilation, before)]
            if all(0 <= a < n for a, n in zip(at, spatial)):
                y[(slice(None), *pos)] += x[(slice(None), *at)] @ w[tap].astype(np.float64)
    return y


def conv_lstm_numpy(x, kernel, recurrent, bias, strides, padding, dilation,
                    go_backwards=False, mask=None, state=None):
    """(outputs per step (batch, time, ...), h, c) of Keras 2's ConvLSTM with tanh and
    hard_sigmoid; a masked step keeps h, c and repeats the previous output (zeros first)."""
    rank = kernel.ndim - 2
    steps = range(x.shape[1])[::-1] if go_backwards else range(x.shape[1])
    h = c = out = None
    outputs = []
    for t in steps:
        zx = conv_numpy(x[:, t], kernel, strides, padding, dilation) + bias
        if h is None:
            h, c = (np.zeros(zx.shape[:-1] + (kernel.shape[-1] // 4,)),) * 2 \
                if state is None else state
            out = np.zeros_like(h)
        zh = conv_numpy(h, recurrent, (1,) * rank, "same", (1,) * rank)
        i, f, g, o = np.split(zx + zh, 4, axis=-1)
        new_c = hard_sigmoid(f) * c + hard_sigmoid(i) * np.tanh(g)
        new_h = hard_sigmoid(o) * np.tanh(new_c)
        keep = np.ones(x.shape[0], bool) if mask is None else mask[:, t]
        keep = keep.reshape(-1, *(1,) * (rank + 1))
        h, c = np.where(keep, new_h, h), np.where(keep, new_c, c)
        out = np.where(keep, new_h, out)
        outputs.append(out)
    return np.stack(outputs, 1), h, c


def _floats(shape):
    return RNG.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("cls, args, shape", [
    (layers.ConvLSTM2D, {"filters": 3, "kernel_size": (3, 2), "padding": "same"},
     (2, 4, 5, 4, 2)),
    (layers.ConvLSTM2D, {"filters": 2, "kernel_size": 3, "strides": (2, 1)}, (2, 3, 7, 5, 3)),
    (layers.ConvLSTM1D, {"filters": 3, "kernel_size": 3, "dilation_rate": 2,
                         "padding": "same", "go_backwards": True}, (2, 4, 7, 2)),
    (layers.ConvLSTM3D, {"filters": 2, "kernel_size": 2}, (1, 3, 3, 4, 3, 2)),
])
def test_conv_lstm_matches_keras2_cell_formula(cls, args, shape):
    layer = cls(**args, bias_initializer="normal", return_sequences=True, return_state=True)
    x = _floats(shape)
    cfg = layer.get_config()
    seq, h, c = layer(x)
    kernel, recurrent, bias = layer.get_weights()
    e_seq, e_h, e_c = conv_lstm_numpy(x, kernel, recurrent, bias, cfg["strides"],
                                      cfg["padding"], cfg["dilation_rate"],
                                      go_backwards=cfg["go_backwards"])
    np.testing.assert_allclose(seq, e_seq, **TOL)
    np.testing.assert_allclose(h, e_h, **TOL)
    np.testing.assert_allclose(c, e_c, **TOL)


def test_weight_names_shapes_and_unit_forget_bias():
    layer = layers.ConvLSTM2D(4, (3, 2))
    layer(_floats((2, 3, 5, 5, 3)))
    assert layer.name.startswith("conv_lst_m2d")  # Keras 2's to_snake_case of the class
    assert [(w.name.split("/")[-1], w.shape) for w in layer.weights] == [
        ("kernel", (3, 2, 3, 16)), ("recurrent_kernel", (3, 2, 4, 16)), ("bias", (16,))]
    np.testing.assert_array_equal(layer.bias.numpy(), [0] * 4 + [1] * 4 + [0] * 8)
    assert layer.get_config()["recurrent_activation"] == "hard_sigmoid"
    plain = layers.ConvLSTM1D(2, 2, unit_forget_bias=False, use_bias=False)
    plain(_floats((1, 2, 4, 3)))
    assert [w.name.split("/")[-1] for w in plain.weights] == ["kernel", "recurrent_kernel"]


@pytest.mark.parametrize("padding, strides, dilation, expected", [
    ("valid", 1, 1, (6, 5)), ("same", 1, 1, (8, 7)), ("valid", 2, 1, (3, 3)),
    ("same", 2, 1, (4, 4)), ("valid", 1, 2, (4, 3))])
def test_output_sizes_and_return_options(padding, strides, dilation, expected):
    x = _floats((2, 3, 8, 7, 2))
    layer = layers.ConvLSTM2D(5, 3, padding=padding, strides=strides, dilation_rate=dilation)
    assert layer(x).shape == (2, *expected, 5)
    layer = layers.ConvLSTM2D(5, 3, padding=padding, strides=strides, dilation_rate=dilation,
                              return_sequences=True, return_state=True)
    seq, h, c = layer(x)
    assert seq.shape == (2, 3, *expected, 5) and h.shape == c.shape == (2, *expected, 5)
    np.testing.assert_array_equal(seq[:, -1], h)
    inputs = keras.Input((3, 8, 7, 2))
    assert keras.Model(inputs, layers.ConvLSTM2D(
        5, 3, padding=padding, strides=strides, dilation_rate=dilation)(inputs)
    ).output_shape == (None, *expected, 5)


def test_mask_and_initial_state_match_numpy():
    x = _floats((3, 5, 6, 2))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 1, 1, 0]], bool)
    state = [_floats((3, 6, 2)), _floats((3, 6, 2))]
    layer = layers.ConvLSTM1D(2, 3, padding="same", return_sequences=True,
                              return_state=True, bias_initializer="normal")
    seq, h, c = layer(x, mask=mask, initial_state=state)
    e_seq, e_h, e_c = conv_lstm_numpy(x, *layer.get_weights(), (1,), "same", (1,),
                                      mask=mask, state=state)
    for got, want in ((seq, e_seq), (h, e_h), (c, e_c)):
        np.testing.assert_allclose(got, want, **TOL)
    assert layer.compute_mask(x, mask) == [mask, None, None]
    assert layers.ConvLSTM1D(2, 3).compute_mask(x, mask) is None


def test_stateful_keeps_states_until_reset():
    x = _floats((2, 3, 5, 2))
    layer = layers.ConvLSTM1D(2, 3, stateful=True, return_state=True)
    _, h1, c1 = layer(x)
    _, h2, _ = layer(x)
    _, e_h2, _ = conv_lstm_numpy(x, *layer.get_weights(), (1,), "valid", (1,),
                                 state=(np.asarray(h1), np.asarray(c1)))
    np.testing.assert_allclose(h2, e_h2, **TOL)
    layer.reset_states()
    assert not np.asarray(layer.states[0].value).any()
    np.testing.assert_allclose(layer(x)[1], h1, **TOL)


def test_dropout_is_one_mask_per_gate_in_training_only():
    x = _floats((2, 4, 6, 3))
    layer = layers.ConvLSTM1D(2, 3, dropout=0.5, recurrent_dropout=0.5,
                              return_sequences=True)
    inference = layer(x)
    np.testing.assert_allclose(inference, conv_lstm_numpy(
        x, *layer.get_weights(), (1,), "valid", (1,))[0], **TOL)
    trained = layer(x, training=True)
    assert trained.shape == inference.shape and not np.allclose(trained, inference)
    assert layer.get_config()["dropout"] == 0.5


def test_dropout_masks_drop_each_gates_inputs_and_h_apart(monkeypatch):
    """With known masks (4 per side, Keras 2's count=4), gate g sees x * m_g and h * r_g:
    checked against a NumPy step loop doing four separate convolutions per side."""
    x = _floats((2, 3, 5, 2))
    layer = layers.ConvLSTM1D(2, 3, padding="same", dropout=0.5, recurrent_dropout=0.5,
                              bias_initializer="normal", return_sequences=True)
    layer(x)
    in_masks = RNG.integers(0, 2, (4, 2, 5, 2)) * 2.0
    rec_masks = RNG.integers(0, 2, (4, 2, 5, 2)) * 2.0
    monkeypatch.setattr(layer, "_draw_conv_masks", lambda *a: (
        in_masks.astype(np.float32), rec_masks.astype(np.float32)))
    kernel, recurrent, bias = layer.get_weights()
    h = c = np.zeros((2, 5, 2))
    want = []
    for t in range(3):
        z = [conv_numpy(x[:, t] * in_masks[g], np.split(kernel, 4, -1)[g], (1,), "same",
                        (1,)) + np.split(bias, 4)[g] +
             conv_numpy(h * rec_masks[g], np.split(recurrent, 4, -1)[g], (1,), "same", (1,))
             for g in range(4)]
        c = hard_sigmoid(z[1]) * c + hard_sigmoid(z[0]) * np.tanh(z[2])
        h = hard_sigmoid(z[3]) * np.tanh(c)
        want.append(h)
    np.testing.assert_allclose(layer(x, training=True), np.stack(want, 1), **TOL)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"data_format": "nhwc"}, ValueError, "data_format"),
    ({"padding": "causal"}, ValueError, "padding"),
    ({"filters": 0}, ValueError, "filters"),
    ({"kernel_size": (3,)}, ValueError, "kernel_size"),
    ({"unroll": True}, TypeError, "Unrolling"),
    ({"time_major": True}, NotImplementedError, "time_major"),
    ({"dropout": 1.0}, ValueError, "dropout"),
])
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    arguments = {"filters": 2, "kernel_size": 3, **kwargs}
    with pytest.raises(error, match=match):
        layers.ConvLSTM2D(**arguments)


def test_bad_inputs_and_states_are_refused():
    with pytest.raises(ValueError, match="rank 5"):
        layers.ConvLSTM2D(2, 3)(_floats((2, 3, 5, 2)))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        layers.ConvLSTM1D(2, 3, dilation_rate=2)(_floats((1, 2, 4, 1)))
    with pytest.raises(ValueError, match=r"initial_state must have shape"):
        layers.ConvLSTM1D(2, 3)(_floats((1, 2, 5, 1)),
                                initial_state=[_floats((1, 5, 2)), _floats((1, 5, 2))])


def test_config_round_trip_and_keras2_keys():
    layer = layers.ConvLSTM2D(3, (2, 3), strides=(1, 2), padding="same",
                              activation="relu", recurrent_activation="sigmoid",
                              go_backwards=True, return_sequences=True, name="cl")
    config = layer.get_config()
    for key in ("filters", "kernel_size", "strides", "padding", "data_format",
                "dilation_rate", "unit_forget_bias", "kernel_regularizer",
                "recurrent_constraint", "dropout", "recurrent_dropout", "unroll",
                "time_major", "stateful"):
        assert key in config
    clone = layers.deserialize(layers.serialize(layer))
    assert type(clone) is layers.ConvLSTM2D and clone.get_config() == config


def test_fit_lowers_loss_and_h5_round_trip(tmp_path):
    xf.random.set_seed(3)
    model = keras.Sequential([
        keras.Input((3, 6, 6, 1)),
        layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True),
        layers.ConvLSTM2D(2, 3),
        layers.Flatten(), layers.Dense(1)])
    x = _floats((8, 3, 6, 6, 1))
    y = x.mean(axis=(1, 2, 3, 4))[:, None]
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    path = str(tmp_path / "m.h5")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(lay).__name__ for lay in loaded.layers[:2]] == ["ConvLSTM2D"] * 2
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    weights = str(tmp_path / "w.weights.h5")
    model.save_weights(weights)
    fresh = keras.models.clone_model(model)
    fresh.load_weights(weights)
    for got, want in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
