"""xf.audio: TF's tf.audio.decode_wav / encode_wav for 16-bit PCM WAV, on the host.

Like tf.io's image decoders these take and give bytes, which XLA cannot hold: they run in
Python (eagerly or in a Dataset.map) and give host arrays with `.numpy()`; the waveforms
then feed compiled code. The header checks and messages follow TF's wav_io.
"""

from __future__ import annotations

import numbers
import struct

import jax
import numpy as np

from xlaflow.errors import InvalidArgumentError


def _host(array):
    from xlaflow.data.host_tensor import HostTensor
    return np.asarray(array).view(HostTensor)


def _contents(value, op):
    """The WAV file's bytes from bytes, a 0-d text/bytes tensor or a Dataset element."""
    from xlaflow.io.parsing import _serialized
    return _serialized(value, f"tf.audio.{op}", "contents",
                       "a WAV file's contents, e.g. from tf.io.read_file")


def _integer(value, op, arg, expected, allowed):
    """`value` (a Python or 0-d NumPy integer) as an int, if `allowed(value)`; else a
    ValueError naming the argument, what it must be and what it was."""
    if isinstance(value, (np.ndarray, np.generic, jax.Array)) and np.ndim(value) == 0:
        value = np.asarray(value).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not allowed(value):
        raise ValueError(f"tf.audio.{op}: `{arg}` must be {expected}; received {arg}={value!r}")
    return int(value)


def _bad(message):
    return InvalidArgumentError(None, None, f"tf.audio.decode_wav: {message}")


class _Reader:
    """Little-endian fields read in order, each bounds-checked as TF's reader does."""

    def __init__(self, data):
        self.data, self.offset = data, 0

    def take(self, size, what):
        end = self.offset + size
        if end > len(self.data):
            raise _bad(f"`contents` is too short: it ends at byte {len(self.data)} while "
                       f"reading {what} (bytes {self.offset}..{end})")
        chunk, self.offset = self.data[self.offset:end], end
        return chunk

    def value(self, fmt, what):
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def expect(self, text, what):
        found = self.take(len(text), what)
        if found != text:
            raise _bad(f"`contents` is not a WAV file: expected {text!r} ({what}) at byte "
                       f"{self.offset - len(text)}, found {found!r}")


def _parse(data):
    """(int16 samples [frames, channels], sample_rate) of a 16-bit PCM WAV file."""
    reader = _Reader(data)
    reader.expect(b"RIFF", "the RIFF header")
    reader.value("I", "the file size")
    reader.expect(b"WAVE", "the RIFF type")
    reader.expect(b"fmt ", "the format chunk")
    format_size = reader.value("I", "the format chunk's size")
    if format_size not in (16, 18):
        raise _bad(f"unsupported format chunk of {format_size} bytes (16 or 18 are read, as "
                   "TF: plain PCM, not WAVE_FORMAT_EXTENSIBLE)")
    audio_format = reader.value("H", "the audio format")
    if audio_format != 1:
        raise _bad(f"unsupported audio format {audio_format}: only 1 (PCM) is read, as TF")
    channels = reader.value("H", "the channel count")
    if channels < 1:
        raise _bad(f"the header gives {channels} channels; expected at least 1")
    sample_rate = reader.value("I", "the sample rate")
    bytes_per_second = reader.value("I", "the byte rate")
    block_align = reader.value("H", "the block alignment")
    bits = reader.value("H", "the bits per sample")
    if bits != 16:
        raise _bad(f"can only read 16-bit WAV files, but received {bits} bits per sample "
                   "(convert the file to 16-bit PCM)")
    if block_align != 2 * channels:
        raise _bad(f"bad bytes per frame in the header: expected {2 * channels}, got "
                   f"{block_align}")
    if bytes_per_second != block_align * sample_rate:
        raise _bad(f"bad bytes per second in the header: expected "
                   f"{block_align * sample_rate}, got {bytes_per_second}")
    if format_size == 18:
        reader.take(2, "the format chunk's extension size")
    samples = None
    while reader.offset < len(data):
        chunk_id = reader.take(4, "a chunk id")
        size = reader.value("I", "a chunk size")
        if chunk_id != b"data":
            reader.offset += size  # other chunks (LIST, fact, ...) are skipped, as TF
            continue
        if samples is not None:
            raise _bad("more than one data chunk found in the WAV file")
        frames = size // block_align
        raw = reader.take(frames * block_align, "the audio data")
        samples = np.frombuffer(raw, dtype="<i2").reshape(frames, channels)
        reader.offset += size - frames * block_align
    if samples is None:
        raise _bad("no data chunk found in the WAV file")
    return samples, sample_rate


def decode_wav(contents, desired_channels=-1, desired_samples=-1, name=None):
    """TF's `tf.audio.decode_wav`: (audio float32 [samples, channels] in [-1, 1), the
    sample rate as int32) of a 16-bit PCM WAV file's bytes; each sample is int16 / 32768.

    desired_channels: -1 keeps the file's; fewer keep the first, more repeat the last
    (TF's rule). desired_samples: -1 keeps all; otherwise zero-padded or cut to it."""
    desired_channels = _integer(desired_channels, "decode_wav", "desired_channels",
                                "-1 (as stored) or a positive integer",
                                lambda v: v == -1 or v > 0)
    desired_samples = _integer(desired_samples, "decode_wav", "desired_samples",
                               "-1 (all) or a non-negative integer", lambda v: v >= -1)
    samples, sample_rate = _parse(_contents(contents, "decode_wav"))
    frames, channels = samples.shape
    out_channels = channels if desired_channels == -1 else desired_channels
    out_frames = frames if desired_samples == -1 else desired_samples
    sources = np.minimum(np.arange(out_channels), channels - 1)
    audio = np.zeros((out_frames, out_channels), np.float32)
    kept = min(frames, out_frames)
    audio[:kept] = samples[:kept][:, sources].astype(np.float32) / 32768.0
    return _host(audio), _host(np.int32(sample_rate))


def encode_wav(audio, sample_rate, name=None):
    """TF's `tf.audio.encode_wav`: float32 audio [samples, channels] as 16-bit PCM WAV
    bytes (a 0-d bytes tensor); samples are round(x * 32768) clipped to int16, as TF's."""
    if isinstance(audio, jax.core.Tracer) or isinstance(sample_rate, jax.core.Tracer):
        raise TypeError("tf.audio.encode_wav: `audio` and `sample_rate` must be concrete; "
                        "WAV bytes are made on the host in xlaflow: call it eagerly")
    values = np.asarray(audio)
    if values.dtype != np.float32 or values.ndim != 2:
        raise ValueError(f"tf.audio.encode_wav: `audio` must be float32 [samples, channels]; "
                         f"received dtype {values.dtype}, shape {values.shape}")
    frames, channels = values.shape
    rate = _integer(sample_rate, "encode_wav", "sample_rate", "an integer in (0, 2**32)",
                    lambda v: 0 < v < 2 ** 32)
    if frames == 0:
        raise InvalidArgumentError(None, None, "tf.audio.encode_wav: `audio` must have at "
                                   "least one sample (TF: num_frames must be positive)")
    if not 0 < channels < 2 ** 16:
        raise ValueError(f"tf.audio.encode_wav: `audio` must have 1 to 65535 channels; "
                         f"received shape {values.shape}")
    # TF's float-to-int16: scale by 2**15, round half away from zero, clip to int16
    # (in float64, where x * 2**15 + 0.5 is exact: float32 would round some halves up)
    scaled = values.astype(np.float64) * 32768.0
    pcm = np.clip(np.sign(scaled) * np.floor(np.abs(scaled) + 0.5), -32768, 32767)
    data = pcm.astype("<i2").tobytes()
    block = 2 * channels
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16,
                         1, channels, rate, rate * block, block, 16, b"data", len(data))
    out = np.empty((), dtype=object)
    out[()] = header + data
    return _host(out)
