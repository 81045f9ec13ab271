"""xf.signal: TF's tf.signal (framing, windows, FFTs, STFT and its inverse, mel filters,
MFCCs) in jax.numpy, so it runs eagerly, under xf.function/jax.jit and jax.grad alike.

Lengths and steps are static Python integers (XLA needs fixed shapes); the frame indices
are NumPy constants, so framing is one gather and overlap-add one scatter-add.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _op_dispatch


def _static_int(value, op, arg, minimum):
    """`value` as a Python int >= minimum, refusing traced values by name: the framing
    shapes depend on it, and XLA compiles one shape per program."""
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"tf.signal.{op}: `{arg}` must be a static integer (it sets the "
                        f"output's shape); received a traced value {value!r:.80}")
    if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0:
        value = np.asarray(value).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"tf.signal.{op}: `{arg}` must be an integer >= {minimum}; received "
                         f"{arg}={value!r}")
    return int(value)


def _float_dtype(dtype, op):
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"tf.signal.{op}: `dtype` must be a floating point type; received "
                         f"dtype={dtype.name}")
    return dtype


def _real_signal(signals, op, arg="signals"):
    signals = jnp.asarray(signals)
    if not jnp.issubdtype(signals.dtype, jnp.floating):
        raise TypeError(f"tf.signal.{op}: `{arg}` must be a real floating point tensor "
                        f"(float32 or float64); received dtype {signals.dtype.name}")
    return signals


def _fft_length(fft_length, op):
    """TF takes fft_length as a 1-element list (or a scalar); returns the int."""
    if isinstance(fft_length, (list, tuple)) or (
            isinstance(fft_length, np.ndarray) and fft_length.ndim == 1):
        if len(fft_length) != 1:
            raise ValueError(f"tf.signal.{op}: `fft_length` must hold one length; received "
                             f"fft_length={fft_length!r}")
        fft_length = fft_length[0]
    return _static_int(fft_length, op, "fft_length", 1)


def frame(signal, frame_length, frame_step, pad_end=False, pad_value=0, axis=-1, name=None):
    """TF's `tf.signal.frame`: windows of `frame_length` samples every `frame_step` along
    `axis`, which becomes the two axes [frames, frame_length].

    Without `pad_end` a signal shorter than one frame gives zero frames, as TF does; with
    it the end is padded with `pad_value` so every sample starts a frame's step."""
    frame_length = _static_int(frame_length, "frame", "frame_length", 1)
    frame_step = _static_int(frame_step, "frame", "frame_step", 1)
    signal = jnp.asarray(signal)
    if signal.ndim == 0:
        raise ValueError("tf.signal.frame: `signal` must have rank at least 1; received a "
                         "scalar")
    if not -signal.ndim <= axis < signal.ndim:
        raise ValueError(f"tf.signal.frame: `axis` must be in [{-signal.ndim}, "
                         f"{signal.ndim}) for a rank-{signal.ndim} signal; received "
                         f"axis={axis!r}")
    axis %= signal.ndim
    length = signal.shape[axis]
    if pad_end:
        num_frames = -(-length // frame_step)  # ceiling: every step that starts in the signal
        padded = frame_length + frame_step * (num_frames - 1) if num_frames else 0
        if padded > length:
            widths = [(0, 0)] * signal.ndim
            widths[axis] = (0, padded - length)
            signal = jnp.pad(signal, widths, constant_values=jnp.asarray(
                pad_value, signal.dtype))
    else:
        num_frames = max(0, 1 + (length - frame_length) // frame_step)
    starts = np.arange(num_frames, dtype=np.int32)[:, None] * frame_step
    indices = starts + np.arange(frame_length, dtype=np.int32)[None, :]
    return jnp.take(signal, indices.reshape(num_frames, frame_length), axis=axis)


def overlap_and_add(signal, frame_step, name=None):
    """TF's `tf.signal.overlap_and_add`: frames [..., frames, frame_length] summed back
    into [..., (frames - 1) * frame_step + frame_length] samples (frame's inverse sum)."""
    signal = jnp.asarray(signal)
    if signal.ndim < 2:
        raise ValueError(f"tf.signal.overlap_and_add: `signal` must have rank at least 2 "
                         f"([..., frames, frame_length]); received shape {signal.shape}")
    frame_step = _static_int(frame_step, "overlap_and_add", "frame_step", 1)
    num_frames, frame_length = signal.shape[-2:]
    if frame_step > frame_length:
        raise ValueError(f"tf.signal.overlap_and_add: `frame_step` must be at most the frame "
                         f"length {frame_length}; received frame_step={frame_step}")
    length = (num_frames - 1) * frame_step + frame_length if num_frames else 0
    indices = (np.arange(num_frames)[:, None] * frame_step
               + np.arange(frame_length)[None, :]).reshape(-1)
    flat = signal.reshape(*signal.shape[:-2], num_frames * frame_length)
    out = jnp.zeros((*signal.shape[:-2], length), signal.dtype)
    return out.at[..., indices].add(flat)


def _raised_cosine(window_length, periodic, dtype, a, b, op):
    window_length = _static_int(window_length, op, "window_length", 0)
    dtype = _float_dtype(dtype, op)
    if window_length == 1:
        return jnp.ones([1], dtype)
    # TF's rule: `periodic` lengthens the period by one for even lengths only (an odd
    # length gives the symmetric window either way)
    even = 1 - window_length % 2
    n = window_length + int(bool(periodic)) * even - 1
    count = np.arange(window_length, dtype=np.float64)
    return jnp.asarray(a - b * np.cos(2 * np.pi * count / n), dtype)


def hann_window(window_length, periodic=True, dtype=jnp.float32, name=None):
    """TF's `tf.signal.hann_window`: 0.5 - 0.5 cos(2 pi n / N), N = length - 1, or
    length for a periodic window of even length."""
    return _raised_cosine(window_length, periodic, dtype, 0.5, 0.5, "hann_window")


def hamming_window(window_length, periodic=True, dtype=jnp.float32, name=None):
    """TF's `tf.signal.hamming_window`: 0.54 - 0.46 cos(2 pi n / N), N as hann_window's."""
    return _raised_cosine(window_length, periodic, dtype, 0.54, 0.46, "hamming_window")


def rfft(input_tensor, fft_length=None, name=None):
    """TF's `tf.signal.rfft`: the FFT of real input over its last axis, cropped or
    zero-padded to `fft_length` first; fft_length // 2 + 1 complex bins."""
    x = _real_signal(input_tensor, "rfft", "input_tensor")
    n = x.shape[-1] if fft_length is None else _fft_length(fft_length, "rfft")
    return jnp.fft.rfft(x, n=n, axis=-1)


def irfft(input_tensor, fft_length=None, name=None):
    """TF's `tf.signal.irfft`: the real inverse of rfft over the last axis; fft_length
    defaults to 2 * (bins - 1)."""
    x = jnp.asarray(input_tensor)
    n = 2 * (x.shape[-1] - 1) if fft_length is None else _fft_length(fft_length, "irfft")
    return jnp.fft.irfft(x, n=n, axis=-1)


def fft(input, name=None):
    """TF's `tf.signal.fft`: the complex FFT over the innermost axis."""
    return jnp.fft.fft(_complex(input, "fft"), axis=-1)


def ifft(input, name=None):
    """TF's `tf.signal.ifft`: the complex inverse FFT over the innermost axis."""
    return jnp.fft.ifft(_complex(input, "ifft"), axis=-1)


def _complex(value, op):
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.complexfloating):
        raise TypeError(f"tf.signal.{op}: `input` must be complex64 or complex128, as TF's; "
                        f"received dtype {value.dtype.name} (use tf.signal.rfft for real "
                        "input, or tf.complex)")
    return value


def _enclosing_power_of_two(value):
    return 1 << max(0, int(value) - 1).bit_length()


def stft(signals, frame_length, frame_step, fft_length=None, window_fn=hann_window,
         pad_end=False, name=None):
    """TF's `tf.signal.stft`: rfft of windowed frames, [..., frames, fft_length // 2 + 1]
    complex; fft_length defaults to the smallest power of two >= frame_length, as TF's."""
    signals = _real_signal(signals, "stft")
    frame_length = _static_int(frame_length, "stft", "frame_length", 1)
    frame_step = _static_int(frame_step, "stft", "frame_step", 1)
    fft_length = (_enclosing_power_of_two(frame_length) if fft_length is None
                  else _static_int(fft_length, "stft", "fft_length", 1))
    framed = frame(signals, frame_length, frame_step, pad_end=pad_end)
    if window_fn is not None:
        framed = framed * window_fn(frame_length, dtype=framed.dtype)
    return jnp.fft.rfft(framed, n=fft_length, axis=-1)


def inverse_stft(stfts, frame_length, frame_step, fft_length=None, window_fn=hann_window,
                 name=None):
    """TF's `tf.signal.inverse_stft`: irfft of each frame, cut or zero-padded to
    frame_length, windowed by `window_fn`, and overlap-added. Exact reconstruction needs
    window_fn=inverse_stft_window_fn(frame_step) (TF's documented pairing)."""
    stfts = jnp.asarray(stfts)
    if not jnp.issubdtype(stfts.dtype, jnp.complexfloating) or stfts.ndim < 2:
        raise TypeError(f"tf.signal.inverse_stft: `stfts` must be complex with rank >= 2 "
                        f"([..., frames, bins]); received dtype {stfts.dtype.name}, shape "
                        f"{stfts.shape}")
    frame_length = _static_int(frame_length, "inverse_stft", "frame_length", 1)
    frame_step = _static_int(frame_step, "inverse_stft", "frame_step", 1)
    fft_length = (_enclosing_power_of_two(frame_length) if fft_length is None
                  else _static_int(fft_length, "inverse_stft", "fft_length", 1))
    frames = jnp.fft.irfft(stfts, n=fft_length, axis=-1)[..., :frame_length]
    if frames.shape[-1] < frame_length:
        widths = [(0, 0)] * (frames.ndim - 1) + [(0, frame_length - frames.shape[-1])]
        frames = jnp.pad(frames, widths)
    if window_fn is not None:
        frames = frames * window_fn(frame_length, dtype=frames.dtype)
    return overlap_and_add(frames, frame_step)


def inverse_stft_window_fn(frame_step, forward_window_fn=hann_window, name=None):
    """TF's `tf.signal.inverse_stft_window_fn`: the window that undoes
    `forward_window_fn`'s overlapped squares, for inverse_stft."""
    frame_step = _static_int(frame_step, "inverse_stft_window_fn", "frame_step", 1)

    def inverse_window(frame_length, dtype=jnp.float32):
        forward = forward_window_fn(frame_length, dtype=dtype)
        overlaps = -(-frame_length // frame_step)
        squares = jnp.pad(jnp.square(forward), (0, overlaps * frame_step - frame_length))
        # every sample of a frame meets one sample of each overlapping frame: the sum of
        # the squares at its offset modulo frame_step
        denominator = jnp.tile(squares.reshape(overlaps, frame_step).sum(0), overlaps)
        return forward / denominator[:frame_length]
    return inverse_window


def _hertz_to_mel(frequencies_hertz):
    return 1127.0 * np.log1p(frequencies_hertz / 700.0)  # TF's (HTK) mel scale


def linear_to_mel_weight_matrix(num_mel_bins=20, num_spectrogram_bins=129, sample_rate=8000,
                                lower_edge_hertz=125.0, upper_edge_hertz=3800.0,
                                dtype=jnp.float32, name=None):
    """TF's `tf.signal.linear_to_mel_weight_matrix`: [num_spectrogram_bins, num_mel_bins]
    triangular filters, evenly spaced on the mel scale, as TF builds them (bin 0 zero)."""
    op = "linear_to_mel_weight_matrix"
    num_mel_bins = _static_int(num_mel_bins, op, "num_mel_bins", 1)
    num_spectrogram_bins = _static_int(num_spectrogram_bins, op, "num_spectrogram_bins", 1)
    dtype = _float_dtype(dtype, op)
    if not (isinstance(sample_rate, numbers.Real) and sample_rate > 0):
        raise ValueError(f"tf.signal.{op}: `sample_rate` must be positive; received "
                         f"sample_rate={sample_rate!r}")
    if lower_edge_hertz < 0.0:
        raise ValueError(f"tf.signal.{op}: `lower_edge_hertz` must be non-negative; received "
                         f"lower_edge_hertz={lower_edge_hertz!r}")
    if lower_edge_hertz >= upper_edge_hertz:
        raise ValueError(f"tf.signal.{op}: `lower_edge_hertz` must be below "
                         f"`upper_edge_hertz`; received {lower_edge_hertz!r} >= "
                         f"{upper_edge_hertz!r}")
    if upper_edge_hertz > sample_rate / 2:
        raise ValueError(f"tf.signal.{op}: `upper_edge_hertz` must not exceed the Nyquist "
                         f"frequency {sample_rate / 2}; received "
                         f"upper_edge_hertz={upper_edge_hertz!r}")
    # computed in `dtype` as TF computes it (a constant: no tensor inputs)
    real = np.dtype(dtype)
    linear = np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins).astype(real)[1:]
    bins_mel = _hertz_to_mel(linear)[:, None]
    edges = np.linspace(_hertz_to_mel(np.asarray(lower_edge_hertz, real)),
                        _hertz_to_mel(np.asarray(upper_edge_hertz, real)),
                        num_mel_bins + 2).astype(real)
    lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    lower_slopes = (bins_mel - lower) / (center - lower)
    upper_slopes = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0, np.minimum(lower_slopes, upper_slopes))
    return jnp.asarray(np.pad(weights, [(1, 0), (0, 0)]), dtype)


def _dct_matrix(n, dct_type, norm, dtype):
    """[n, n] matrix M with y = x @ M: TF's (and scipy.fft's) unnormalised DCT-II/-III,
    or the orthonormal one."""
    k = np.arange(n, dtype=np.float64)
    if dct_type == 2:  # y_k = 2 sum_j x_j cos(pi k (2j + 1) / 2n)
        matrix = 2 * np.cos(np.pi * k[None, :] * (2 * k[:, None] + 1) / (2 * n))
        if norm == "ortho":
            matrix[:, 0] *= np.sqrt(1 / (4 * n))
            matrix[:, 1:] *= np.sqrt(1 / (2 * n))
    else:  # type 3: y_k = x_0 + 2 sum_{j>0} x_j cos(pi j (2k + 1) / 2n)
        matrix = 2 * np.cos(np.pi * k[:, None] * (2 * k[None, :] + 1) / (2 * n))
        matrix[0, :] = 1.0
        if norm == "ortho":
            matrix[0, :] *= np.sqrt(1 / n)
            matrix[1:, :] *= np.sqrt(1 / (2 * n))
    return jnp.asarray(matrix, dtype)


def dct(input, type=2, n=None, axis=-1, norm=None, name=None):
    """TF's `tf.signal.dct` over the last axis, types 2 and 3 (norm None or "ortho")."""
    if type not in (2, 3):
        raise NotImplementedError(f"tf.signal.dct: type={type!r} is not provided (types 2 "
                                  "and 3 are); use scipy.fft.dct on the host for types 1 "
                                  "and 4")
    if axis != -1:
        raise NotImplementedError(f"tf.signal.dct: only axis=-1 is supported, as TF's; "
                                  f"received axis={axis!r}")
    if n is not None:
        raise NotImplementedError("tf.signal.dct: `n` (truncating or padding) is not "
                                  "provided; slice or xf.pad the input first")
    if norm not in (None, "ortho"):
        raise ValueError(f'tf.signal.dct: `norm` must be None or "ortho"; received '
                         f"norm={norm!r}")
    x = _real_signal(input, "dct", "input")
    return x @ _dct_matrix(x.shape[-1], type, norm, x.dtype)


def idct(input, type=2, n=None, axis=-1, norm=None, name=None):
    """TF's `tf.signal.idct`: the inverse of dct (type 2's is type 3 and back), scaled by
    1 / (2 n) without norm, as TF's."""
    if type not in (2, 3):
        raise NotImplementedError(f"tf.signal.idct: type={type!r} is not provided (types 2 "
                                  "and 3 are)")
    inverse = {2: 3, 3: 2}[type]
    out = dct(input, type=inverse, n=n, axis=axis, norm=norm)
    return out if norm == "ortho" else out * (0.5 / jnp.asarray(input).shape[-1])


def mfccs_from_log_mel_spectrograms(log_mel_spectrograms, name=None):
    """TF's `tf.signal.mfccs_from_log_mel_spectrograms`: the DCT-II of each log-mel frame,
    scaled by 1 / sqrt(2 * num_mel_bins) as TF's."""
    x = _real_signal(log_mel_spectrograms, "mfccs_from_log_mel_spectrograms",
                     "log_mel_spectrograms")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError("tf.signal.mfccs_from_log_mel_spectrograms: "
                         "`log_mel_spectrograms` must have a non-empty last axis (mel bins); "
                         f"received shape {x.shape}")
    num_mel_bins = x.shape[-1]
    return dct(x, type=2) * jnp.asarray(1.0 / np.sqrt(2.0 * num_mel_bins), x.dtype)


# Last, once every function exists: the ops record a node when given symbolic Keras tensors
_op_dispatch.expose(globals(), "signal")
