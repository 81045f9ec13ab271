"""Keras `fit` on xlaflow against hand-written JAX training, measured in the same run.

The MNIST program of the Keras issue (Flatten -> Dense 128 relu -> Dense 10 softmax, Adam,
sparse categorical cross-entropy, accuracy) on synthetic data of MNIST's shape, batch 32.
Both sides start from host NumPy arrays and compute the same loss and accuracy per step:

- xlaflow `fit` (default, and `steps_per_execution=32`);
- a hand-written `jax.jit` + optax step loop (each step transfers its batch);
- a hand-written `lax.scan` epoch (the epoch's batches transferred once, then scanned).

Prints steady-state samples/s (median of epochs after a warm-up epoch) and ratios.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLAFLOW_COMPILATION_CACHE_DIR", "off")

import functools  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import xlaflow as xf  # noqa: E402

SAMPLES = int(os.environ.get("FIT_BENCH_SAMPLES", 16384))
BATCH = 32
EPOCHS = 8  # the first round is warm-up (compilation)


def data():
    rng = np.random.default_rng(0)
    return rng.random((SAMPLES, 28, 28), np.float32), rng.integers(0, 10, SAMPLES)


def xlaflow_fit(x, y, steps_per_execution):
    from xlaflow.keras import layers, models
    model = models.Sequential([layers.Flatten(input_shape=(28, 28)),
                               layers.Dense(128, activation="relu"),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return lambda: model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0, shuffle=False)


def init_params(key):
    k1, k2 = jax.random.split(key)
    limit1, limit2 = np.sqrt(6 / (784 + 128)), np.sqrt(6 / (128 + 10))
    return {"w1": jax.random.uniform(k1, (784, 128), minval=-limit1, maxval=limit1),
            "b1": jnp.zeros(128),
            "w2": jax.random.uniform(k2, (128, 10), minval=-limit2, maxval=limit2),
            "b2": jnp.zeros(10)}


def loss_fn(params, x, y):
    h = jax.nn.relu(x.reshape(x.shape[0], -1) @ params["w1"] + params["b1"])
    probs = jax.nn.softmax(h @ params["w2"] + params["b2"])
    log_p = jnp.log(jnp.clip(probs / probs.sum(-1, keepdims=True), 1e-7, 1 - 1e-7))
    loss = -jnp.mean(jnp.take_along_axis(log_p, y[:, None], 1))
    return loss, probs


tx = optax.adam(1e-3, eps=1e-7)


def train_step(state, x, y):
    params, opt_state, totals = state
    (loss, probs), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    correct = jnp.sum(jnp.argmax(probs, -1) == y)
    totals = totals + jnp.stack([loss * x.shape[0], correct, x.shape[0]])
    return params, opt_state, totals


def hand_loop(x, y):
    params = init_params(jax.random.PRNGKey(0))
    state = [(params, tx.init(params), jnp.zeros(3))]
    step = jax.jit(train_step, donate_argnums=0)

    def epoch():
        for i in range(0, SAMPLES, BATCH):
            state[0] = step(state[0], x[i:i + BATCH], y[i:i + BATCH])
        jax.block_until_ready(state[0])

    return epoch


def hand_scan(x, y):
    params = init_params(jax.random.PRNGKey(0))
    state = [(params, tx.init(params), jnp.zeros(3))]
    steps = SAMPLES // BATCH

    @functools.partial(jax.jit, donate_argnums=0)
    def scan_epoch(state, xs, ys):
        return jax.lax.scan(lambda s, b: (train_step(s, *b), None), state, (xs, ys))[0]

    def epoch():
        xs = x[:steps * BATCH].reshape(steps, BATCH, 28, 28)
        ys = y[:steps * BATCH].reshape(steps, BATCH)
        state[0] = scan_epoch(state[0], xs, ys)
        jax.block_until_ready(state[0])

    return epoch


def keras3_fit(x, y):
    try:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras
    except ImportError:
        return None
    if keras.backend.backend() != "jax":
        return None
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return lambda: model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0, shuffle=False)


def main():
    x, y = data()
    runners = {"hand-written jit step loop": hand_loop(x, y),
               "hand-written lax.scan epoch": hand_scan(x, y),
               "xlaflow fit": xlaflow_fit(x, y, 1),
               "xlaflow fit steps_per_execution=32": xlaflow_fit(x, y, 32)}
    keras = keras3_fit(x, y)
    if keras is not None:
        runners["Keras 3 fit (jax backend)"] = keras
    times = {name: [] for name in runners}
    for round_index in range(EPOCHS):  # interleaved: machine noise hits every contender
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            if round_index:  # the first round compiles
                times[name].append(time.perf_counter() - start)
    rate = {name: SAMPLES / statistics.median(t) for name, t in times.items()}
    loop = rate["hand-written jit step loop"]
    best = max(loop, rate["hand-written lax.scan epoch"])
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); MLP, batch "
          f"{BATCH}, {SAMPLES} samples/epoch, median of {EPOCHS - 1} interleaved epochs")
    for name in runners:
        print(f"  {name:38s} {rate[name]:10.0f} samples/s   vs loop {rate[name] / loop:5.2f}"
              f"   vs best hand-written {rate[name] / best:5.2f}")
    if keras is None:
        print("  (Keras 3 not installed: pip install keras to compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
