"""xf.audio.decode_wav / encode_wav against WAV files written and read by Python's `wave`
module, with known int16 sample values (TF decodes each as value / 32768)."""

import io
import wave

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xlaflow as tf
from xlaflow.errors import InvalidArgumentError


def _wav_bytes(samples, rate=16000, width=2):
    """A WAV file by the stdlib: `samples` int [frames, channels] at `width` bytes each."""
    samples = np.asarray(samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(width)
        f.setframerate(rate)
        dtype = {1: np.uint8, 2: "<i2", 4: "<i4"}[width]
        f.writeframes(samples.astype(dtype).tobytes())
    return buffer.getvalue()


def _read_wav(data):
    with wave.open(io.BytesIO(data), "rb") as f:
        frames = np.frombuffer(f.readframes(f.getnframes()), "<i2")
        return frames.reshape(-1, f.getnchannels()), f.getframerate(), f.getsampwidth()


STEREO = np.array([[0, 1], [-32768, 32767], [16384, -16384], [7, -7]])


def test_decode_wav_scales_int16_by_one_over_32768():
    audio, rate = tf.audio.decode_wav(_wav_bytes(STEREO, rate=22050))
    assert audio.dtype == np.float32 and audio.shape == (4, 2)
    np.testing.assert_array_equal(audio.numpy(), STEREO / 32768.0)
    assert rate.dtype == np.int32 and rate.numpy() == 22050
    assert audio.numpy().max() < 1.0 and audio.numpy().min() == -1.0  # [-1, 1)


def test_desired_channels_and_samples_follow_tf():
    data = _wav_bytes(STEREO)
    # fewer channels keep the first ones; more repeat the last (TF's DecodeWav rule)
    mono, _ = tf.audio.decode_wav(data, desired_channels=1)
    np.testing.assert_array_equal(mono.numpy(), STEREO[:, :1] / 32768.0)
    three, _ = tf.audio.decode_wav(data, desired_channels=3)
    np.testing.assert_array_equal(three.numpy(), STEREO[:, [0, 1, 1]] / 32768.0)
    padded, _ = tf.audio.decode_wav(data, desired_samples=6)
    np.testing.assert_array_equal(padded.numpy(),
                                  np.concatenate([STEREO, np.zeros((2, 2))]) / 32768.0)
    cut, _ = tf.audio.decode_wav(data, desired_channels=1, desired_samples=2)
    np.testing.assert_array_equal(cut.numpy(), STEREO[:2, :1] / 32768.0)


def test_encode_wav_rounds_half_away_from_zero_and_clips():
    audio = np.array([[0.0], [1.5 / 32768], [-1.5 / 32768], [1.0], [-1.0], [2.0], [-0.25],
                      [0.4 / 32768]], np.float32)
    encoded = tf.audio.encode_wav(audio, 8000)
    samples, rate, width = _read_wav(encoded.numpy())
    assert (rate, width) == (8000, 2)
    np.testing.assert_array_equal(samples[:, 0], [0, 2, -2, 32767, -32768, 32767, -8192, 0])


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.int16, st.tuples(st.integers(1, 50), st.integers(1, 3))),
       st.integers(1, 96000))
def test_encode_then_decode_keeps_every_int16_sample(samples, rate):
    encoded = tf.audio.encode_wav(samples.astype(np.float32) / 32768.0, rate)
    np.testing.assert_array_equal(_read_wav(encoded.numpy())[0], samples)  # stdlib reads it
    audio, decoded_rate = tf.audio.decode_wav(encoded)
    np.testing.assert_array_equal(audio.numpy(), samples / 32768.0)
    assert int(decoded_rate) == rate


def test_decode_skips_other_chunks_before_the_data():
    data = _wav_bytes(STEREO)
    # a LIST chunk between "fmt " and "data", as recorders write
    extra = b"LIST" + (4).to_bytes(4, "little") + b"INFO"
    data = data[:36] + extra + data[36:]
    audio, _ = tf.audio.decode_wav(data)
    np.testing.assert_array_equal(audio.numpy(), STEREO / 32768.0)


@pytest.mark.parametrize("contents, message", [
    (b"hello, not audio", r"not a WAV file: expected b'RIFF'"),
    (_wav_bytes(np.array([[1], [2]]), width=1), r"can only read 16-bit WAV files, but "
                                                r"received 8 bits per sample"),
    (_wav_bytes(np.array([[1], [2]]), width=4), r"received 32 bits per sample"),
    (_wav_bytes(STEREO)[:40], r"too short"),
    (_wav_bytes(STEREO)[:44] + b"\x00", r"no data chunk|too short"),
])
def test_bad_wav_contents_are_invalid_argument(contents, message):
    with pytest.raises(InvalidArgumentError, match=message):
        tf.audio.decode_wav(contents)


def test_bad_arguments_are_named():
    data = _wav_bytes(STEREO)
    with pytest.raises(ValueError, match=r"`desired_channels` must be -1 \(as stored\) or a "
                                         r"positive integer; received desired_channels=0"):
        tf.audio.decode_wav(data, desired_channels=0)
    with pytest.raises(ValueError, match=r"desired_samples=-2"):
        tf.audio.decode_wav(data, desired_samples=-2)
    with pytest.raises(TypeError, match=r"`contents` must be bytes .*received int"):
        tf.audio.decode_wav(3)
    with pytest.raises(ValueError, match=r"`audio` must be float32 \[samples, channels\]"):
        tf.audio.encode_wav(np.zeros(4, np.float32), 16000)
    with pytest.raises(ValueError, match=r"`sample_rate` must be an integer in \(0, 2\*\*32\); "
                                         r"received sample_rate=0"):
        tf.audio.encode_wav(np.zeros((4, 1), np.float32), 0)
    with pytest.raises(InvalidArgumentError, match=r"at least one sample"):
        tf.audio.encode_wav(np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(TypeError, match=r"`contents` is a traced value inside a compiled"):
        jax.jit(lambda x: tf.audio.decode_wav(x))(np.zeros(3))


def test_read_file_and_decode_wav_in_a_dataset_map(tmp_path):
    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.wav"
        path.write_bytes(_wav_bytes(STEREO * (i + 1) // 4))
        paths.append(str(path))

    def load(path):
        audio, _ = tf.audio.decode_wav(tf.io.read_file(path), desired_channels=1)
        return audio

    got = [a.numpy() for a in tf.data.Dataset.from_tensor_slices(paths).map(load)]
    for i, audio in enumerate(got):
        np.testing.assert_array_equal(audio, (STEREO * (i + 1) // 4)[:, :1] / 32768.0)
