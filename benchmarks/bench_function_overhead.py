"""Per-call overhead of a compiled xf.function with 10 Variables vs. the same jax.jit call.

Both sides run the same XLA program: read 10 state arrays, update them, return a scalar.
The jax.jit side keeps its state in a Python tuple and rebinds it after each call, which is
what hand-written JAX does; xf.function reads and writes Variable cells instead.
Prints medians over repeated rounds and the ratio (xlaflow / jax).
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import jax.numpy as jnp

import xlaflow as xf

N_VARS = 10
CALLS = 2000
ROUNDS = 15


def build():
    variables = [xf.Variable(jnp.full((4,), float(i)), name=f"v{i}") for i in range(N_VARS)]

    @xf.function
    def xf_step(x):
        total = 0.0
        for i, v in enumerate(variables):
            v.assign_add(x * i)
            total = total + jnp.sum(v.value)
        return total

    @jax.jit
    def jax_step(state, x):
        new = tuple(s + x * i for i, s in enumerate(state))
        return sum(jnp.sum(s) for s in new), new

    state = tuple(jnp.full((4,), float(i)) for i in range(N_VARS))
    return xf_step, jax_step, state


def time_calls(fn):
    start = time.perf_counter()
    for _ in range(CALLS):
        fn()
    jax.block_until_ready(fn())
    return (time.perf_counter() - start) / (CALLS + 1)


def main():
    xf_step, jax_step, state = build()
    x = jnp.ones((4,))
    holder = [state]

    def run_jax():
        out, holder[0] = jax_step(holder[0], x)
        return out

    def run_xf():
        return xf_step(x)

    run_jax(), run_xf()  # compile both
    xf_times, jax_times = [], []
    for _ in range(ROUNDS):  # interleaved, so machine noise hits both sides alike
        jax_times.append(time_calls(run_jax))
        xf_times.append(time_calls(run_xf))
    jax_us = statistics.median(jax_times) * 1e6
    xf_us = statistics.median(xf_times) * 1e6
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()})")
    print(f"call with {N_VARS} Variables, median of {ROUNDS} rounds x {CALLS} calls")
    print(f"  jax.jit     {jax_us:8.2f} us/call")
    print(f"  xf.function {xf_us:8.2f} us/call")
    print(f"  ratio xf/jax {xf_us / jax_us:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
