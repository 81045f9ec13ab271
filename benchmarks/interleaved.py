"""Interleaved timing of several callables on the same arguments: each round times a batch
of calls of every variant in turn, so a noisy neighbour on a shared machine hits them alike.
Used by the newer benchmarks (sparse, signal, windows); prints medians and per-round ratios
to the first variant (the hand-written JAX)."""

from __future__ import annotations

import statistics
import time

import jax

ROUNDS = 15
ROUND_SECONDS = 0.05


def _per_call(fn, args, calls):
    jax.block_until_ready(fn(*args))  # compiled before it is timed
    start = time.perf_counter()
    for _ in range(calls):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / calls


def report(title, variants):
    """Time `variants` ({name: (callable, args)}, the first the baseline); print a table."""
    calls = {name: max(1, int(ROUND_SECONDS / _per_call(fn, args, 3)))
             for name, (fn, args) in variants.items()}
    rounds = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, (fn, args) in variants.items():
            rounds[name].append(_per_call(fn, args, calls[name]))
    base = next(iter(rounds.values()))
    print(f"{title} ({jax.devices()[0].platform}; medians of {ROUNDS} interleaved rounds)")
    for name, times in rounds.items():
        ratio = statistics.median(t / b for t, b in zip(times, base))
        print(f"  {name:34s} {statistics.median(times) * 1e6:10.1f} us   ratio {ratio:5.2f}")
