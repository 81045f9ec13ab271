"""GRU and GRUCell with reset_after=False (Keras 2's other layout, TF 1's GRU): the reset
gate multiplies the state before its recurrent product and the bias is the input's only,
(3 * units,). Checked against Keras 2's cell formula in NumPy (float64)."""

import numpy as np
import pytest

from tests.keras.test_recurrent_dropout import record_masks, sigmoid
from xlaflow import keras
from xlaflow.keras import layers

RNG = np.random.default_rng(5)
TOL = {"rtol": 1e-4, "atol": 1e-5}


def numpy_gru_reset_before(x, weights, rec_masks=None, keep=None):
    """Keras 2's GRUCell(reset_after=False), implementation 1: gate g's state input is
    h * rec_masks[g]; the candidate's recurrent input is r * (h * rec_masks[2])."""
    kernel, recurrent, bias = (np.asarray(w, np.float64) for w in weights)
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))

    def cols(m, g):
        return m[..., g * units:(g + 1) * units]

    def drop(v, g):
        return v if rec_masks is None else v * np.asarray(rec_masks[g], np.float64)

    outputs = []
    for t in range(x.shape[1]):
        xz, xr, xh = (x[:, t] @ cols(kernel, g) + cols(bias, g) for g in range(3))
        z = sigmoid(xz + drop(h, 0) @ cols(recurrent, 0))
        r = sigmoid(xr + drop(h, 1) @ cols(recurrent, 1))
        cand = np.tanh(xh + (r * drop(h, 2)) @ cols(recurrent, 2))
        new_h = z * h + (1 - z) * cand
        h = new_h if keep is None else np.where(keep[:, t:t + 1], new_h, h)
        outputs.append(h)
    return np.stack(outputs, 1)


def test_gru_reset_before_matches_keras_2s_formula():
    x = RNG.normal(size=(3, 6, 4)).astype(np.float32)
    layer = layers.GRU(5, reset_after=False, return_sequences=True,
                       bias_initializer="normal")
    out = np.asarray(layer(x))
    kernel, recurrent, bias = layer.get_weights()
    assert (kernel.shape, recurrent.shape, bias.shape) == ((4, 15), (5, 15), (15,))
    np.testing.assert_allclose(out, numpy_gru_reset_before(x.astype(np.float64),
                                                           layer.get_weights()), **TOL)
    # the other layout computes something else from the same kernels
    after = layers.GRU(5, return_sequences=True)
    after(x)
    after.set_weights([kernel, recurrent, np.stack([bias, np.zeros_like(bias)])])
    assert not np.allclose(after(x), out, **TOL)


def test_gru_reset_before_with_recurrent_dropout_and_a_mask():
    x = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    layer = layers.GRU(4, reset_after=False, recurrent_dropout=0.4, return_sequences=True,
                       bias_initializer="normal")
    drawn = record_masks(layer)
    out = np.asarray(layer(x, training=True))
    (_, rec_masks), = drawn
    assert rec_masks.shape == (3, 2, 4)
    np.testing.assert_allclose(out, numpy_gru_reset_before(
        x.astype(np.float64), layer.get_weights(), rec_masks), **TOL)
    keep = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    masked = np.asarray(layer(x, mask=keep))
    np.testing.assert_allclose(masked, numpy_gru_reset_before(
        x.astype(np.float64), layer.get_weights(), keep=keep), **TOL)


def test_gru_cell_reset_before_in_rnn_equals_the_gru_layer():
    x = RNG.normal(size=(2, 4, 3)).astype(np.float32)
    gru = layers.GRU(5, reset_after=False, bias_initializer="normal")
    want = gru(x)
    rnn = layers.RNN(layers.GRUCell(5, reset_after=False))
    rnn(x)
    rnn.set_weights(gru.get_weights())
    np.testing.assert_allclose(rnn(x), want, **TOL)
    assert rnn.cell.get_config()["reset_after"] is False


@pytest.mark.parametrize("suffix", ["h5", "savedmodel"])
def test_gru_reset_before_config_and_save_round_trip(tmp_path, suffix):
    assert layers.GRU.from_config(layers.GRU(3, reset_after=False).get_config()).reset_after \
        is False
    model = keras.Sequential([keras.Input((4, 2)), layers.GRU(3, reset_after=False),
                              layers.Dense(1)])
    x = RNG.normal(size=(2, 4, 2)).astype(np.float32)
    path = str(tmp_path / ("m.h5" if suffix == "h5" else "m"))
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[0].reset_after is False
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
