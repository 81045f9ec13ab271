"""xf.signal against the hand-written JAX, in the same process: the audio tutorial's
spectrogram (stft, frame_length 255, frame_step 128, of a batch of 1-second 16 kHz clips)
and a log-mel step, each under xf.function next to the same math in jax.numpy under
jax.jit (frames by jnp.take of int32 NumPy indices and a NumPy Hann window, constants of
the program; rfft)."""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

import xlaflow as xf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleaved import report

BATCH, SAMPLES, LENGTH, STEP, FFT = 16, 16000, 255, 128, 256


@jax.jit
def hand_stft(x):
    count = 1 + (x.shape[-1] - LENGTH) // STEP
    at = (np.arange(count)[:, None] * STEP + np.arange(LENGTH)[None, :]).astype(np.int32)
    n = np.arange(LENGTH)  # TF's periodic Hann: an odd length is the symmetric one
    window = (0.5 - 0.5 * np.cos(2 * np.pi * n / (LENGTH - LENGTH % 2))).astype(np.float32)
    return jnp.fft.rfft(jnp.take(x, at, axis=-1) * window, n=FFT)


def main():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(BATCH, SAMPLES)).astype(np.float32))
    stft = xf.function(lambda x: xf.signal.stft(x, frame_length=LENGTH, frame_step=STEP))
    np.testing.assert_allclose(np.abs(stft(x)), np.abs(hand_stft(x)), rtol=1e-3, atol=1e-3)
    report(f"stft of [{BATCH}, {SAMPLES}] (frame {LENGTH}, step {STEP}, fft {FFT})", {
        "hand-written jnp (jax.jit)": (hand_stft, (x,)),
        "xf.signal.stft in xf.function": (stft, (x,)),
    })
    mel = xf.signal.linear_to_mel_weight_matrix(40, FFT // 2 + 1, 16000, 20.0, 4000.0)

    @jax.jit
    def hand_log_mel(x):
        return jnp.log(jnp.abs(hand_stft(x)) @ mel + 1e-6)

    log_mel = xf.function(lambda x: xf.math.log(xf.abs(xf.signal.stft(
        x, frame_length=LENGTH, frame_step=STEP)) @ mel + 1e-6))
    report("log-mel spectrogram (40 bins)", {
        "hand-written jnp (jax.jit)": (hand_log_mel, (x,)),
        "xf.signal in xf.function": (log_mel, (x,)),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
