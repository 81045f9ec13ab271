"""Per-call cost of the public ops' symbolic-tensor check (xlaflow/_op_dispatch.py).

An eager jax op takes microseconds and varies by more than the check costs, so the check is
timed on its own: the same wrapper around a function that does nothing, called with each
op's arguments, next to that function called directly; before any keras.Input exists (the
wrapper reads a flag) and after (it looks through the arguments). The op's own eager time
is printed for scale. Best per-call time over rounds, timed in alternation.
"""

from __future__ import annotations

import time

import jax.numpy as jnp

import xlaflow as xf
from xlaflow import _op_dispatch

CALLS = 20000
ROUNDS = 7


def cases():
    a, b = jnp.ones((8, 8)), jnp.ones((8, 8))
    return [("xf.add(a, b)", xf.add, (a, b), {}),
            ("xf.reduce_mean(a, axis=-1)", xf.reduce_mean, (a,), {"axis": -1}),
            ("xf.concat([a, b], axis=0)", xf.concat, ([a, b],), {"axis": 0}),
            ("xf.nn.relu(a)", xf.nn.relu, (a,), {})]


def best(fns, args, kwargs, calls=CALLS):
    """Best per-call time (ns) of each of `fns`, timed in alternation."""
    times = [[] for _ in fns]
    for _ in range(ROUNDS):
        for fn, got in zip(fns, times):
            start = time.perf_counter()
            for _ in range(calls):
                fn(*args, **kwargs)
            got.append((time.perf_counter() - start) / calls)
    return [min(got) * 1e9 for got in times]


def nothing(*args, **kwargs):
    return None


def main():
    wrapped = _op_dispatch.op(nothing, "bench_nothing")
    rows = []
    for label, op, args, kwargs in cases():
        op(*args, **kwargs).block_until_ready()
        own, = best([op.__wrapped__], args, kwargs, calls=300)
        rows.append([label, own, *best([nothing, wrapped], args, kwargs)])
    xf.keras.Input((3,))  # from now on every wrapper looks through its arguments
    for row, (_, _, args, kwargs) in zip(rows, cases()):
        row += best([nothing, wrapped], args, kwargs)
    print(f"{'op':<28}{'op itself':>11}{'check, no Input':>17}{'check, with Input':>19}"
          "   (ns per call)")
    for label, own, bare, idle, bare2, watching in rows:
        print(f"{label:<28}{own:>11.0f}{idle - bare:>17.0f}{watching - bare2:>19.0f}")


if __name__ == "__main__":
    main()
