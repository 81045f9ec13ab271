"""The xlaflow demo, end to end as far as the project goes today (`make demo`).

Today: TF2-style state and compilation. A linear model lives in xf.Variables; one
@xf.function training step reads them, computes the update and assigns it; the whole step
is one XLA program, traced once and cached on disk for the next run. AutoGraph then compiles
a Python `while` on tensors into an XLA loop. Later stages (Keras fit on MNIST, export,
serving) extend this script as they land.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import xlaflow as xf


def make_data(n=2048, features=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    true_w = rng.normal(size=(features, 1)).astype(np.float32)
    y = x @ true_w + 0.5 + 0.01 * rng.normal(size=(n, 1)).astype(np.float32)
    return x, y, true_w


def main():
    x, y, true_w = make_data()
    w = xf.Variable(xf.zeros((x.shape[1], 1)), name="w")
    b = xf.Variable(0.0, name="b")
    step_count = xf.Variable(0, trainable=False, name="step")

    def loss_fn(params, xb, yb):
        wv, bv = params
        return xf.reduce_mean(xf.square(xf.matmul(xb, wv) + bv - yb))

    @xf.function
    def train_step(xb, yb, learning_rate):
        loss, (gw, gb) = jax.value_and_grad(loss_fn)((w.value, b.value), xb, yb)
        w.assign_sub(learning_rate * gw)
        b.assign_sub(learning_rate * gb)
        step_count.assign_add(1)
        return loss

    print(f"xlaflow {xf.__version__} on {jax.devices()[0].platform}; compilation cache: "
          f"{xf.config.compilation_cache_dir()}")
    batch = 256
    start = time.perf_counter()
    for epoch in range(5):
        losses = [train_step(x[i:i + batch], y[i:i + batch], 0.1)
                  for i in range(0, len(x), batch)]
        xf.print("epoch", epoch + 1, "loss", xf.reduce_mean(xf.stack(losses)))
    elapsed = time.perf_counter() - start
    print(f"{int(step_count.numpy())} steps in {elapsed:.2f}s, traced "
          f"{train_step.tracing_count} time(s) (same shapes and learning rate: one program)")
    print(f"max |w - true_w| = {float(jnp.max(jnp.abs(w.value - true_w))):.4f}, "
          f"b = {float(b.numpy()):.3f} (true 0.5)")

    program = train_step.get_concrete_function(x[:batch], y[:batch], 0.1)
    text = program.as_text()
    print(f"one XLA program per step: {text.count('stablehlo.')} StableHLO ops, inputs "
          f"{[v.name for v in program.variables]} + the batch")

    # AutoGraph: plain Python control flow on tensors compiles to XLA control flow.
    @xf.function
    def steps_to_converge(threshold):
        steps = 0
        loss = loss_fn((w.value, b.value), x, y)
        while loss > threshold and steps < 100:
            loss = loss * 0.5
            steps += 1
        return steps, loss

    steps, loss = steps_to_converge(xf.constant(1e-9))
    primitives = {e.primitive.name for e in
                  steps_to_converge.get_concrete_function(xf.constant(1e-9)).jaxpr.eqns}
    print(f"AutoGraph: a Python `while` on tensors ran {int(steps)} halvings (loss "
          f"{float(loss):.2e}) as one XLA loop: {'while' in primitives}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
