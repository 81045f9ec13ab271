"""An eager `with xf.GradientTape()` step against hand-written eager JAX, and compiled.

The step: a Keras MLP's forward pass, its mean squared error and the gradients of the
loss with respect to the weights, on one batch of 32. Eagerly, the tape converts its
block when entered, traces it and replays it under jax.vjp: op by op, as eager JAX runs,
until the block's structure has been seen COMPILE_AT times, then compiled (both rows are
measured); the hand-written equivalent is `jax.value_and_grad(loss)(params)` without
jax.jit, the same math in jax.numpy. Compiled: the tape inside xf.function against the
same value_and_grad under jax.jit. Prints medians over rounds and the ratios (xlaflow / jax).
"""

from __future__ import annotations

import collections
import contextlib
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import xlaflow as xf
from xlaflow import _jaxpr_replay, keras

ROUNDS = 9
EAGER_STEPS = 10
COMPILED_STEPS = 300


def build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(32, 64)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(32, 10)), jnp.float32)
    model(x)
    return model, x, y


def tape_step(model, x, y):
    with xf.GradientTape() as tape:
        loss = jnp.mean((model(x) - y) ** 2)
    return loss, tape.gradient(loss, model.trainable_variables)


def plain_loss(params, x, y):
    (w1, b1), (w2, b2), (w3, b3) = params
    h = jax.nn.relu(x @ w1 + b1)
    h = jax.nn.relu(h @ w2 + b2)
    return jnp.mean((h @ w3 + b3 - y) ** 2)


@contextlib.contextmanager
def op_by_op():
    """The replay before its structure is compiled: no structure seen, none compiled."""
    seen, at = _jaxpr_replay._seen, _jaxpr_replay.COMPILE_AT
    _jaxpr_replay._seen, _jaxpr_replay.COMPILE_AT = collections.OrderedDict(), float("inf")
    try:
        yield
    finally:
        _jaxpr_replay._seen, _jaxpr_replay.COMPILE_AT = seen, at


def per_step(fn, steps):
    jax.block_until_ready(fn())
    start = time.perf_counter()
    for _ in range(steps):
        out = fn()
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / steps


def main():
    model, x, y = build()
    values = [jnp.asarray(v.numpy()) for v in model.trainable_variables]
    params = [tuple(values[i:i + 2]) for i in range(0, len(values), 2)]
    grad = jax.value_and_grad(plain_loss)
    compiled_tape = xf.function(tape_step)
    compiled_grad = jax.jit(grad)
    # the two ways agree before they are timed
    loss, grads = tape_step(model, x, y)
    want_loss, want = grad(params, x, y)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
    for got, expected in zip(grads, jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    rows = {"eager tape": [], "eager tape, op by op": [], "eager jax.value_and_grad": [],
            "xf.function tape": [], "jax.jit(value_and_grad)": []}
    for _ in range(_jaxpr_replay.COMPILE_AT):
        tape_step(model, x, y)  # the block's structure is compiled from here on
    for _ in range(ROUNDS):
        rows["eager tape"].append(per_step(lambda: tape_step(model, x, y), EAGER_STEPS))
        with op_by_op():
            rows["eager tape, op by op"].append(
                per_step(lambda: tape_step(model, x, y), EAGER_STEPS))
        rows["eager jax.value_and_grad"].append(per_step(lambda: grad(params, x, y),
                                                         EAGER_STEPS))
        rows["xf.function tape"].append(per_step(lambda: compiled_tape(model, x, y),
                                                 COMPILED_STEPS))
        rows["jax.jit(value_and_grad)"].append(per_step(lambda: compiled_grad(params, x, y),
                                                        COMPILED_STEPS))
    medians = {k: statistics.median(v) * 1e6 for k, v in rows.items()}
    print(f"MLP 64-128-64-10, batch 32, {jax.devices()[0].platform}; median of {ROUNDS} rounds")
    for name, us in medians.items():
        print(f"  {name:28s} {us:10.1f} us/step")
    print(f"  eager:    xlaflow / jax = "
          f"{medians['eager tape'] / medians['eager jax.value_and_grad']:.2f} "
          f"(op by op, its first {_jaxpr_replay.COMPILE_AT} steps: "
          f"{medians['eager tape, op by op'] / medians['eager jax.value_and_grad']:.2f})")
    print(f"  compiled: xlaflow / jax = "
          f"{medians['xf.function tape'] / medians['jax.jit(value_and_grad)']:.2f}")


if __name__ == "__main__":
    main()
