"""Per-call overhead of a compiled xf.function vs. the same jax.jit call.

Two programs. With 10 Variables: read 10 state arrays, update them, return a scalar; the
jax.jit side keeps its state in a Python tuple and rebinds it after each call, which is what
hand-written JAX does; xf.function reads and writes Variable cells instead. Without
Variables: `x + 1`, next to a bare Python object whose `__call__` only forwards to the
jax.jit function: the part of the overhead any Python-level function object pays.
Prints medians over repeated rounds, the differences and ratios (xlaflow / jax).
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
    no_variables(x)
    return 0


class _Forward:
    """The least a Python function object can do: forward its arguments to jax.jit."""

    def __init__(self, jitted):
        self.jitted = jitted

    def __call__(self, *args, **kwargs):
        return self.jitted(*args, **kwargs)


def no_variables(x):
    jitted = jax.jit(lambda a: a + 1.0)
    sides = {"jax.jit": jitted, "Python forward": _Forward(jitted),
             "xf.function": xf.function(lambda a: a + 1.0)}
    times = {name: [] for name in sides}
    for fn in sides.values():
        jax.block_until_ready(fn(x))
    for _ in range(ROUNDS):
        for name, fn in sides.items():
            times[name].append(time_calls(lambda fn=fn: fn(x)))
    base = statistics.median(times["jax.jit"]) * 1e6
    print(f"call without Variables (x + 1), median of {ROUNDS} rounds x {CALLS} calls")
    for name in sides:
        us = statistics.median(times[name]) * 1e6
        print(f"  {name:14s} {us:8.2f} us/call  +{us - base:5.2f} us  ratio {us / base:6.3f}")


if __name__ == "__main__":
    sys.exit(main())
