"""Second-run saving of xlaflow's persistent compilation cache on a small model.

Runs the same script in fresh processes: with the cache off, with a cold cache and with a
warm one, and prints the time to the first result of a compiled training step (trace +
compile + run) as medians over repeats, with the warm/off ratio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

REPEATS = 5

SCRIPT = textwrap.dedent("""
    import time, jax, jax.numpy as jnp
    import xlaflow as xf
    key = jax.random.PRNGKey(0)
    k1, k2, k3 = jax.random.split(key, 3)
    conv = xf.Variable(jax.random.normal(k1, (3, 3, 1, 16)) * 0.1, name="conv")
    w1 = xf.Variable(jax.random.normal(k2, (16 * 14 * 14, 128)) * 0.01, name="w1")
    w2 = xf.Variable(jax.random.normal(k3, (128, 10)) * 0.01, name="w2")

    def loss_fn(params, x, y):
        c, a, b = params
        h = jax.lax.conv_general_dilated(x, c, (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        h = jax.lax.reduce_window(jax.nn.relu(h), -jnp.inf, jax.lax.max, (1, 2, 2, 1),
                                  (1, 2, 2, 1), "VALID")
        h = jax.nn.relu(h.reshape(x.shape[0], -1) @ a)
        logits = h @ b
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    @xf.function
    def train_step(x, y):
        params = (conv.value, w1.value, w2.value)
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        for v, g in zip((conv, w1, w2), grads):
            v.assign_sub(0.01 * g)
        return loss

    x = jnp.ones((64, 28, 28, 1)); y = jnp.zeros((64,), jnp.int32)
    jax.block_until_ready((x, y))
    start = time.perf_counter()
    train_step(x, y).block_until_ready()
    print(time.perf_counter() - start)
""")


def first_call_seconds(cache_dir):
    env = dict(os.environ, XLAFLOW_COMPILATION_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    off, cold, warm = [], [], []
    for _ in range(REPEATS):
        off.append(first_call_seconds("off"))
        with tempfile.TemporaryDirectory() as cache:
            cold.append(first_call_seconds(cache))
            warm.append(first_call_seconds(cache))
    med = {name: statistics.median(v) for name, v in
           (("off", off), ("cold", cold), ("warm", warm))}
    print(f"time to first training-step result (conv net, batch 64), median of {REPEATS}:")
    for name, label in (("off", "cache off"), ("cold", "cold cache (1st run)"),
                        ("warm", "warm cache (2nd run)")):
        print(f"  {label:22s} {med[name] * 1e3:8.1f} ms")
    print(f"  ratio warm/off {med['warm'] / med['off']:.3f}  "
          f"(saves {(med['off'] - med['warm']) * 1e3:.0f} ms per run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
