"""xf.RaggedTensor against the hand-written JAX, in the same process: a per-row mean of
`rt * 2 + 1` (TF's reduce_mean over the ragged axis) and to_tensor(shape=...) under
xf.function, next to the same segment math on (values, row_splits) under jax.jit; the
dynamic_size TensorArray a compiled loop grows, next to a fixed-size one and
`lax.fori_loop` + `.at[i].set`; and tf.strings.split of a batch of sentences next to
Python's own str.split building the same values and row splits."""

from __future__ import annotations

import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import xlaflow as xf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleaved import report

ROWS, MAX_LEN, WIDTH = 4096, 64, 32


def _segments(splits, nvals):
    return jnp.repeat(jnp.arange(ROWS), splits[1:] - splits[:-1], total_repeat_length=nvals)


def ragged_math():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, MAX_LEN, ROWS)
    values = rng.normal(size=int(lengths.sum())).astype(np.float32)
    rt = xf.RaggedTensor.from_row_lengths(values, lengths)
    vals, splits = jnp.asarray(values), jnp.asarray(rt.row_splits)

    @jax.jit
    def hand_mean(vals, splits):
        ids = _segments(splits, vals.shape[0])
        total = jax.ops.segment_sum(vals * 2 + 1, ids, num_segments=ROWS)
        return total / (splits[1:] - splits[:-1])

    mean = xf.function(lambda r: xf.reduce_mean(r * 2 + 1, axis=1))
    np.testing.assert_allclose(mean(rt), hand_mean(vals, splits), rtol=1e-5, equal_nan=True)
    report(f"reduce_mean(rt * 2 + 1, axis=1), {ROWS} rows of 0-{MAX_LEN - 1}", {
        "segment_sum on (values, splits) (jax.jit)": (hand_mean, (vals, splits)),
        "xf.RaggedTensor in xf.function": (mean, (rt,)),
    })

    @jax.jit
    def hand_pad(vals, splits):
        ids = _segments(splits, vals.shape[0])
        cols = jnp.arange(vals.shape[0]) - splits[ids]
        return jnp.zeros((ROWS, MAX_LEN), vals.dtype).at[ids, cols].set(vals)

    pad = xf.function(lambda r: r.to_tensor(shape=[ROWS, MAX_LEN]))
    np.testing.assert_array_equal(pad(rt), hand_pad(vals, splits))
    report(f"to_tensor(shape=[{ROWS}, {MAX_LEN}])", {
        "scatter on (values, splits) (jax.jit)": (hand_pad, (vals, splits)),
        "xf.RaggedTensor in xf.function": (pad, (rt,)),
    })


def grown_tensor_array():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(200, WIDTH)).astype(np.float32))

    @xf.function
    def grown(x):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for i in xf.range(xf.shape(x)[0]):
            ta = ta.write(i, xf.tanh(x[i]) * 2.0)
        return ta.stack()

    @xf.function
    def fixed(x):
        ta = xf.TensorArray(xf.float32, size=200)
        for i in xf.range(200):
            ta = ta.write(i, xf.tanh(x[i]) * 2.0)
        return ta.stack()

    @jax.jit
    def hand(x):
        return lax.fori_loop(0, 200, lambda i, out: out.at[i].set(jnp.tanh(x[i]) * 2.0),
                             jnp.zeros_like(x))

    np.testing.assert_allclose(grown(x), hand(x), rtol=1e-6)
    report(f"TensorArray written in a 200-step tf.range loop, rows of {WIDTH}", {
        "fori_loop + .at[i].set (jax.jit)": (hand, (x,)),
        "TensorArray(size=200) in xf.function": (fixed, (x,)),
        "TensorArray(size=0, dynamic_size=True)": (grown, (x,)),
    })


def string_split():
    rng = np.random.default_rng(2)
    words = np.array(["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dogs"])
    sentences = [" ".join(rng.choice(words, rng.integers(1, 20))) for _ in range(10_000)]
    batch = xf.constant(sentences)
    rows = xf.strings.split(batch)
    assert rows.to_list() == [[w.encode() for w in s.split()] for s in sentences]
    def by_hand():  # the same values and row splits, with Python's str.split
        split = [s.split() for s in sentences]
        values = np.array([w.encode() for row in split for w in row])
        return values, np.cumsum([0] + [len(row) for row in split])

    values, splits = by_hand()
    np.testing.assert_array_equal(np.asarray(rows.row_splits), splits)
    assert np.asarray(rows.flat_values).astype(bytes).tolist() == values.tolist()
    times = {"python": [], "xf": []}
    for _ in range(7):
        start = time.perf_counter()
        by_hand()
        times["python"].append(time.perf_counter() - start)
        start = time.perf_counter()
        xf.strings.split(batch)
        times["xf"].append(time.perf_counter() - start)
    py, ours = statistics.median(times["python"]), statistics.median(times["xf"])
    print(f"tf.strings.split of {len(sentences):,} sentences (host; medians of 7)")
    print(f"  str.split, NumPy values and splits      {py * 1e3:8.2f} ms")
    print(f"  xf.strings.split -> RaggedTensor        {ours * 1e3:8.2f} ms   ratio "
          f"{ours / py:5.2f}")


def main():
    ragged_math()
    grown_tensor_array()
    string_split()
    return 0


if __name__ == "__main__":
    sys.exit(main())
