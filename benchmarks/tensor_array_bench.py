"""TF's TensorArray RNN idiom (no element_shape) under xf.function against the hand-written
lax.fori_loop filling a preallocated array with `.at[i].set`, in the same process.

Each round times a batch of calls of every variant, in turn (interleaved, so that a noisy
neighbour on a shared machine hits all of them alike); prints each variant's median per
call, its spread over rounds (min..max of the per-round medians), and the median of the
per-round ratios to the hand-written loop. `lax under xf` is the hand-written loop under
xf.function (autograph=False): it pays xf.function's per-call dispatch too, so the ratio
against it isolates what the TensorArray conversion changes.
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import xlaflow as xf

STEPS = 200
ROUNDS = 15
ROUND_SECONDS = 0.05


def variants(hidden):
    w = jnp.asarray(np.random.RandomState(0).randn(hidden, hidden) / np.sqrt(hidden),
                    jnp.float32)

    @xf.function
    def tensor_array(h):
        ta = xf.TensorArray(xf.float32, size=STEPS)  # element shape from the first write
        for i in xf.range(STEPS):
            h = xf.tanh(w @ h)
            ta = ta.write(i, h)
        return ta.stack()

    def hand_written(h):
        def step(i, carry):
            h, out = carry
            h = jnp.tanh(w @ h)
            return h, out.at[i].set(h)

        return jax.lax.fori_loop(0, STEPS, step, (h, jnp.zeros((STEPS, hidden))))[1]

    return {"TensorArray xf.function": tensor_array,
            "lax under xf": xf.function(hand_written, autograph=False),
            "lax jax.jit": jax.jit(hand_written)}


def per_call(fn, h, calls):
    start = time.perf_counter()
    for _ in range(calls):
        out = fn(h)
    out.block_until_ready()
    return (time.perf_counter() - start) / calls


def measure(hidden):
    fns = variants(hidden)
    h = jnp.asarray(np.random.RandomState(1).randn(hidden), jnp.float32)
    want = np.asarray(fns["lax jax.jit"](h))
    calls = {}
    for name, fn in fns.items():
        np.testing.assert_allclose(np.asarray(fn(h)), want, rtol=1e-5, atol=1e-6)
        one = per_call(fn, h, 3)
        calls[name] = max(1, int(ROUND_SECONDS / one))
    rounds = {name: [] for name in fns}
    for _ in range(ROUNDS):
        for name, fn in fns.items():
            rounds[name].append(per_call(fn, h, calls[name]))
    base = rounds["lax jax.jit"]
    print(f"H={hidden}, {STEPS} steps, {ROUNDS} interleaved rounds "
          f"({jax.devices()[0].platform}):")
    for name, times in rounds.items():
        ratios = [t / b for t, b in zip(times, base)]
        print(f"  {name:26s} median {statistics.median(times) * 1e6:9.1f} us  "
              f"(rounds {min(times) * 1e6:.1f}..{max(times) * 1e6:.1f})  "
              f"ratio to lax jax.jit: median {statistics.median(ratios):.2f} "
              f"(rounds {min(ratios):.2f}..{max(ratios):.2f})")


if __name__ == "__main__":
    for hidden in [int(a) for a in sys.argv[1:]] or [64, 256]:
        measure(hidden)
