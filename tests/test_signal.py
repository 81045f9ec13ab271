"""xf.signal against NumPy: frames cut by loops, windows from their closed forms,
np.fft.rfft of windowed frames, scipy.fft's DCT, and TF's documented shapes and rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xlaflow as tf


def _frames_numpy(x, frame_length, frame_step, pad_end=False, pad_value=0.0):
    """Frames along the last axis by a loop: every step that fits (pad_end: every step
    that starts inside the signal, the end padded)."""
    n = x.shape[-1]
    starts = range(0, n, frame_step) if pad_end else range(0, n - frame_length + 1, frame_step)
    out = []
    for s in starts:
        chunk = x[..., s:s + frame_length]
        if chunk.shape[-1] < frame_length:
            pad = np.full(x.shape[:-1] + (frame_length - chunk.shape[-1],), pad_value, x.dtype)
            chunk = np.concatenate([chunk, pad], axis=-1)
        out.append(chunk)
    if not out:
        return np.zeros(x.shape[:-1] + (0, frame_length), x.dtype)
    return np.stack(out, axis=-2)


@settings(max_examples=40, deadline=None)
@given(length=st.integers(1, 40), frame_length=st.integers(1, 12), frame_step=st.integers(1, 9),
       pad_end=st.booleans())
def test_frame_matches_a_loop(length, frame_length, frame_step, pad_end):
    x = np.arange(2 * length, dtype=np.float32).reshape(2, length)
    got = tf.signal.frame(x, frame_length, frame_step, pad_end=pad_end, pad_value=-1.0)
    np.testing.assert_array_equal(got, _frames_numpy(x, frame_length, frame_step, pad_end, -1.0))


def test_frame_along_an_inner_axis_and_short_signals():
    x = np.arange(24, dtype=np.float32).reshape(2, 6, 2)
    got = tf.signal.frame(x, 3, 2, axis=1)
    assert got.shape == (2, 2, 3, 2)  # outer + [frames, frame_length] + inner, as TF
    np.testing.assert_array_equal(got[:, 1, :, :], x[:, 2:5, :])
    # shorter than one frame: zero frames without pad_end (TF's documented rule), one with
    assert tf.signal.frame(np.ones(3, np.float32), 5, 1).shape == (0, 5)
    np.testing.assert_array_equal(tf.signal.frame(np.ones(3, np.float32), 5, 4, pad_end=True),
                                  [[1, 1, 1, 0, 0]])


@pytest.mark.parametrize("call, message", [
    (lambda: tf.signal.frame(np.ones(8), 0, 1), r"`frame_length` must be an integer >= 1; "
                                                r"received frame_length=0"),
    (lambda: tf.signal.frame(np.ones(8), 4, 0), r"frame_step=0"),
    (lambda: tf.signal.frame(np.ones(8), 4.5, 1), r"frame_length=4.5"),
    (lambda: tf.signal.frame(np.ones(8), 4, 1, axis=2), r"`axis` must be in \[-1, 1\)"),
    (lambda: tf.signal.frame(np.float32(1), 4, 1), r"rank at least 1"),
    (lambda: tf.signal.hann_window(-1), r"window_length=-1"),
    (lambda: tf.signal.hann_window(4, dtype="int32"), r"`dtype` must be a floating"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_stft_refuses_integer_signals_and_traced_lengths():
    with pytest.raises(TypeError, match=r"`signals` must be a real floating point tensor.*int32"):
        tf.signal.stft(np.ones(16, np.int32), 8, 4)
    with pytest.raises(TypeError, match=r"`frame_length` must be a static integer"):
        jax.jit(lambda n: tf.signal.frame(jnp.ones(8), n, 1))(4)


@pytest.mark.parametrize("length", [1, 2, 7, 8, 255, 256])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows_closed_forms(length, periodic):
    # TF: N = length - 1, plus 1 when periodic and the length is even; length 1 is [1]
    n = length - 1 + (1 if periodic and length % 2 == 0 else 0)
    k = np.arange(length)
    hann = np.ones(1) if length == 1 else 0.5 - 0.5 * np.cos(2 * np.pi * k / n)
    hamming = np.ones(1) if length == 1 else 0.54 - 0.46 * np.cos(2 * np.pi * k / n)
    got = tf.signal.hann_window(length, periodic=periodic)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, hann, atol=1e-6)
    np.testing.assert_allclose(tf.signal.hamming_window(length, periodic=periodic), hamming,
                               atol=1e-6)


def test_hann_window_agrees_with_scipy_for_even_lengths():
    scipy_signal = pytest.importorskip("scipy.signal")
    np.testing.assert_allclose(tf.signal.hann_window(64), scipy_signal.get_window("hann", 64),
                               atol=1e-6)  # periodic ("DFT-even"), scipy's default
    np.testing.assert_allclose(tf.signal.hann_window(64, periodic=False),
                               scipy_signal.windows.hann(64, sym=True), atol=1e-6)


def _stft_numpy(x, frame_length, frame_step, fft_length, pad_end=False):
    k = np.arange(frame_length)
    n = frame_length - 1 + (1 if frame_length % 2 == 0 else 0)  # TF's periodic hann
    window = 0.5 - 0.5 * np.cos(2 * np.pi * k / n) if frame_length > 1 else np.ones(1)
    frames = _frames_numpy(x.astype(np.float64), frame_length, frame_step, pad_end)
    return np.fft.rfft(frames * window, n=fft_length, axis=-1)


@pytest.mark.parametrize("frame_length, frame_step, fft_length, pad_end", [
    (255, 128, None, False),  # the audio tutorial's: fft_length 256, 129 bins
    (64, 16, None, True),
    (100, 50, 64, False),  # fft_length below frame_length crops each frame, as TF's rfft
    (33, 10, 80, True),
])
def test_stft_is_rfft_of_hann_windowed_frames(frame_length, frame_step, fft_length, pad_end):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1000)).astype(np.float32)
    got = tf.signal.stft(x, frame_length, frame_step, fft_length=fft_length, pad_end=pad_end)
    fft = fft_length or 1 << (frame_length - 1).bit_length()
    want = _stft_numpy(x, frame_length, frame_step, fft, pad_end)
    assert got.dtype == jnp.complex64
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-4 * np.abs(want).max())


def test_stft_runs_under_jit_and_grad():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(512).astype(np.float32)

    @tf.function
    def spectrogram(waveform):
        return tf.abs(tf.signal.stft(waveform, frame_length=64, frame_step=32))

    np.testing.assert_allclose(spectrogram(x), np.abs(_stft_numpy(x, 64, 32, 64)), rtol=1e-4,
                               atol=1e-4)

    # jax.grad of the spectrogram's energy against a central difference along a random probe
    def energy(waveform):
        return jnp.sum(jnp.abs(tf.signal.stft(waveform, 64, 32)) ** 2)
    grad = jax.grad(energy)(jnp.asarray(x))
    eps = 1e-2
    probe = rng.standard_normal(512).astype(np.float32)
    numeric = (energy(x + eps * probe) - energy(x - eps * probe)) / (2 * eps)
    np.testing.assert_allclose(float(jnp.vdot(grad, probe)), float(numeric), rtol=2e-3)


def test_inverse_stft_reconstructs_with_the_inverse_window():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 800)).astype(np.float32)
    frame_length, frame_step = 128, 32
    stfts = tf.signal.stft(x, frame_length, frame_step)
    back = tf.signal.inverse_stft(stfts, frame_length, frame_step,
                                  window_fn=tf.signal.inverse_stft_window_fn(frame_step))
    # exact away from the ends, where fewer than frame_length / frame_step frames overlap
    np.testing.assert_allclose(back[:, frame_length:-frame_length],
                               x[:, frame_length:back.shape[1] - frame_length], atol=1e-4)


def test_overlap_and_add_sums_frames_at_their_offsets():
    frames = np.arange(12, dtype=np.float32).reshape(3, 4)
    want = np.zeros(8, np.float32)
    for i in range(3):
        want[2 * i:2 * i + 4] += frames[i]
    np.testing.assert_array_equal(tf.signal.overlap_and_add(frames, 2), want)


def test_linear_to_mel_weight_matrix_matches_its_definition():
    # TF's construction written out per entry, in float64
    num_mel, num_bins, rate, lo, hi = 10, 65, 16000, 80.0, 7600.0
    got = tf.signal.linear_to_mel_weight_matrix(num_mel, num_bins, rate, lo, hi)
    assert got.shape == (num_bins, num_mel)

    def mel(f):
        return 1127.0 * np.log(1 + f / 700.0)
    edges = np.linspace(mel(lo), mel(hi), num_mel + 2)
    want = np.zeros((num_bins, num_mel))
    for b in range(1, num_bins):
        m = mel(b * (rate / 2) / (num_bins - 1))
        for j in range(num_mel):
            rise = (m - edges[j]) / (edges[j + 1] - edges[j])
            fall = (edges[j + 2] - m) / (edges[j + 2] - edges[j + 1])
            want[b, j] = max(0.0, min(rise, fall))
    np.testing.assert_allclose(got, want, atol=1e-5)
    with pytest.raises(ValueError, match=r"`upper_edge_hertz` must not exceed the Nyquist "
                                         r"frequency 4000.0; received upper_edge_hertz=5000"):
        tf.signal.linear_to_mel_weight_matrix(upper_edge_hertz=5000)


def test_dct_and_mfccs_agree_with_scipy():
    scipy_fft = pytest.importorskip("scipy.fft")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 20)).astype(np.float32)
    for kind in (2, 3):
        for norm in (None, "ortho"):
            np.testing.assert_allclose(tf.signal.dct(x, type=kind, norm=norm),
                                       scipy_fft.dct(x.astype(np.float64), type=kind,
                                                     norm=norm), atol=1e-4)
    np.testing.assert_allclose(tf.signal.idct(tf.signal.dct(x)), x, atol=1e-5)
    np.testing.assert_allclose(tf.signal.mfccs_from_log_mel_spectrograms(x),
                               scipy_fft.dct(x.astype(np.float64), type=2) / np.sqrt(2 * 20),
                               atol=1e-4)
    with pytest.raises(NotImplementedError, match=r"type=1 is not provided"):
        tf.signal.dct(x, type=1)


def test_fft_pairs_and_rfft_lengths():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(10).astype(np.float32)
    np.testing.assert_allclose(tf.signal.rfft(x, [16]), np.fft.rfft(x, 16), atol=1e-5)
    np.testing.assert_allclose(tf.signal.irfft(tf.signal.rfft(x, [16]), [16])[:10], x,
                               atol=1e-5)
    z = (x + 1j * x[::-1]).astype(np.complex64)
    np.testing.assert_allclose(tf.signal.fft(z), np.fft.fft(z), atol=1e-5)
    np.testing.assert_allclose(tf.signal.ifft(tf.signal.fft(z)), z, atol=1e-5)
    with pytest.raises(TypeError, match=r"`input` must be complex64"):
        tf.signal.fft(x)


def test_signal_ops_on_keras_inputs_build_a_functional_model():
    # TF records tf.signal ops on symbolic Keras tensors (TFOpLambda); so does xlaflow
    from xlaflow import keras
    inputs = keras.Input(shape=(256,))
    spectrogram = tf.abs(tf.signal.stft(inputs, frame_length=64, frame_step=32))
    model = keras.Model(inputs, keras.layers.Flatten()(spectrogram))
    x = np.random.default_rng(5).standard_normal((2, 256)).astype(np.float32)
    want = np.abs(_stft_numpy(x, 64, 32, 64)).reshape(2, -1)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)
    # the node is saved by its public name, tf.signal.stft, and found again from it
    clone = keras.Model.from_config(model.get_config())
    np.testing.assert_allclose(clone.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)
