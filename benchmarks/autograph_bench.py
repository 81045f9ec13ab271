"""AutoGraph against hand-written lax, measured in the same process.

For each function: conversion time (parse + transform + compile of the Python source),
first call (convert + trace + XLA compile + run) and steady-state run time, each next to
the hand-written `lax` version (trace + compile, and run). The hand-written loops are the
tightest a JAX user writes: an early exit is tested in the loop's cond, not carried as a
flag. Prints medians and ratios; `program` is the converted program under plain jax.jit,
without xf.function's per-call dispatch (~0.1 µs on the 2-core CPU since its repeated
calls go through jaxlib's C++ dispatcher; see bench_function_overhead.py); `both xf` is
the steady state against the hand-written lax under xf.function too (autograph=False):
both sides pay that dispatch, so it isolates what conversion changes.
Run with XLAFLOW_COMPILATION_CACHE_DIR=off so compile times are real (`make bench` does).
"""

from __future__ import annotations

import os

os.environ.setdefault("XLAFLOW_COMPILATION_CACHE_DIR", "off")

import statistics
import sys
import time

import jax
import jax.numpy as jnp
from jax import lax

import xlaflow as xf
from xlaflow.autograph import conversion

FIRST_CALL_REPEATS = 5
STEADY_ROUNDS = 15
STEADY_CALLS = 200  # at most; fewer where one call is slow (a GPU syncs on each loop test)
ROUND_SECONDS = 0.02


# -- nested loops with break -------------------------------------------------------------

def ag_nested_break(x, limit):
    total = 0.0
    for row in x:
        for v in row:
            if total > limit:
                break
            total += v
        total = total * 0.5
    return total


def lax_nested_break(x, limit):
    # The tightest hand-written form: the break's condition is tested in the loop's cond.
    def outer(total, row):
        def cond(carry):
            j, t = carry
            return jnp.logical_and(j < row.shape[0], jnp.logical_not(t > limit))

        def body(carry):
            j, t = carry
            return j + 1, t + row[j]

        _, total = lax.while_loop(cond, body, (0, total))
        return total * 0.5, None

    return lax.scan(outer, jnp.float32(0.0), x)[0]


# -- while loop with early return --------------------------------------------------------

def ag_search(x, target):
    i = 0
    while i < x.shape[0]:
        if x[i] > target:
            return i
        i += 1
    return -1


def lax_search(x, target):
    # The tightest hand-written form: the counter is the only carry; the loop stops on the
    # first element above the target, and its final value says whether there was one.
    def cond(i):
        return jnp.logical_and(i < x.shape[0], jnp.logical_not(x[i] > target))

    i = lax.while_loop(cond, lambda i: i + 1, 0)
    return jnp.where(i < x.shape[0], i, -1)


# -- for loop over a tensor with early return -------------------------------------------

def ag_first_above(x, target):
    for i, v in enumerate(x):
        if v > target:
            return i
    return -1


# Hand-written, it is the same loop as the search: the element is read in the loop's cond.
lax_first_above = lax_search


# -- scan-like accumulation (an RNN) ----------------------------------------------------

def ag_rnn(xs, w):
    h = jnp.zeros(w.shape[0])
    outs = []
    for x in xs:
        h = jnp.tanh(w @ h + x)
        outs.append(h)
    return jnp.stack(outs)


def lax_rnn(xs, w):
    def step(h, x):
        h = jnp.tanh(w @ h + x)
        return h, h

    return lax.scan(step, jnp.zeros(w.shape[0]), xs)[1]


# -- windows at a tensor start (TF's slice with tensor bounds) ------------------------------

def ag_windows(x, w):
    total = xf.zeros((x.shape[0], 8))
    for t in xf.range(x.shape[1] - 8):
        total += x[:, t:t + 8] * w[t]
    return total


def lax_windows(x, w):
    def body(t, total):
        return total + lax.dynamic_slice_in_dim(x, t, 8, axis=1) * w[t]

    return lax.fori_loop(0, x.shape[1] - 8, body, jnp.zeros((x.shape[0], 8)))


def cases():
    key = jax.random.PRNGKey(0)
    grid = jax.random.normal(key, (64, 64))
    line = jnp.arange(4096, dtype=jnp.float32)
    seq = jax.random.normal(key, (256, 64))
    w = jax.random.normal(key, (64, 64)) * 0.1
    return [("nested loops + break", ag_nested_break, lax_nested_break, (grid, jnp.float32(50.0))),
            ("while + early return", ag_search, lax_search, (line, jnp.float32(3000.0))),
            ("for + early return", ag_first_above, lax_first_above,
             (line, jnp.float32(3000.0))),
            ("scan accumulation", ag_rnn, lax_rnn, (seq, w)),
            ("sliding windows", ag_windows, lax_windows, (seq.T, seq[:, 0]))]


def first_call(fn, args, convert):
    if convert:
        conversion._by_code.pop(fn.__code__, None)
        conversion.forget(fn)
        compiled = xf.function(fn)
    else:
        compiled = jax.jit(lambda *a: fn(*a))
    jax.block_until_ready(args)
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return time.perf_counter() - start, compiled


def steady(compiled, args, calls):
    start = time.perf_counter()
    for _ in range(calls):
        out = compiled(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / calls


def calls_per_round(compiled, args):
    """Calls that fill ROUND_SECONDS, from 3 to STEADY_CALLS: the same count for all three."""
    one = steady(compiled, args, 3)
    return max(3, min(STEADY_CALLS, int(ROUND_SECONDS / one)))


def main():
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); medians")
    header = (f"{'function':24s} {'convert':>9s} {'first call':>21s} {'ratio':>6s} "
              f"{'steady state':>21s} {'ratio':>6s} {'program':>8s} {'both xf':>8s}")
    print(header)
    print(f"{'':24s} {'ms':>9s} {'autograph / lax ms':>21s} {'':>6s} {'autograph / lax us':>21s}")
    for name, ag_fn, lax_fn, args in cases():
        ag_first, lax_first, convert = [], [], []
        for _ in range(FIRST_CALL_REPEATS):
            t, ag_compiled = first_call(ag_fn, args, convert=True)
            ag_first.append(t)
            convert.append(xf.autograph.conversion_seconds(ag_fn))
            t, lax_compiled = first_call(lax_fn, args, convert=False)
            lax_first.append(t)
        for a, b in zip(jax.tree_util.tree_leaves(ag_compiled(*args)),
                        jax.tree_util.tree_leaves(lax_compiled(*args))):
            assert jnp.allclose(a, b, rtol=1e-5, atol=1e-5), (name, a, b)
        # The converted program alone, under plain jax.jit: separates what AutoGraph emits
        # from xf.function's per-call dispatch.
        program = jax.jit(xf.autograph.to_graph(ag_fn))
        jax.block_until_ready(program(*args))
        lax_xf = xf.function(lax_fn, autograph=False)
        jax.block_until_ready(lax_xf(*args))
        ag_run, lax_run, program_run, lax_xf_run = [], [], [], []
        calls = calls_per_round(lax_compiled, args)
        for _ in range(STEADY_ROUNDS):  # interleaved so machine noise hits all four
            ag_run.append(steady(ag_compiled, args, calls))
            lax_run.append(steady(lax_compiled, args, calls))
            program_run.append(steady(program, args, calls))
            lax_xf_run.append(steady(lax_xf, args, calls))
        med = statistics.median
        print(f"{name:24s} {med(convert) * 1e3:9.2f} {med(ag_first) * 1e3:10.1f} /"
              f"{med(lax_first) * 1e3:9.1f} {med(ag_first) / med(lax_first):6.2f} "
              f"{med(ag_run) * 1e6:10.1f} /{med(lax_run) * 1e6:9.1f} "
              f"{med(ag_run) / med(lax_run):6.2f} {med(program_run) / med(lax_run):8.2f} "
              f"{med(ag_run) / med(lax_xf_run):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
