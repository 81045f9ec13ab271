"""Keras `fit` on xlaflow against hand-written JAX training, measured in the same run.

Two models on synthetic data of MNIST's shape: the MNIST program of the Keras issue
(Flatten -> Dense 128 relu -> Dense 10 softmax, batch 32) and a small CNN (Conv2D 32 ->
pool -> Conv2D 64 -> pool -> Dense 10, batch 128); Adam, sparse categorical cross-entropy,
accuracy.
Both sides start from host NumPy arrays and compute the same loss and accuracy per step:

- xlaflow `fit` (default, and `steps_per_execution=32`);
- a hand-written `jax.jit` + optax step loop (each step transfers its batch);
- a hand-written `lax.scan` epoch (the epoch's batches transferred once, then scanned);
- the TF2 custom training loop on xlaflow (GradientTape inside an xf.function).

Prints steady-state samples/s (median of epochs after a warm-up epoch) and ratios.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLAFLOW_COMPILATION_CACHE_DIR", "off")

import functools
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import xlaflow as xf

SAMPLES = int(os.environ.get("FIT_BENCH_SAMPLES", "16384"))
CNN_SAMPLES = int(os.environ.get("FIT_BENCH_CNN_SAMPLES", "4096"))
EPOCHS = 6  # the first round is warm-up (compilation)


def data(samples):
    rng = np.random.default_rng(0)
    return rng.random((samples, 28, 28), np.float32), rng.integers(0, 10, samples)


def build_model(kind):
    from xlaflow.keras import layers, models
    if kind == "mlp":
        return models.Sequential([layers.Flatten(input_shape=(28, 28)),
                                  layers.Dense(128, activation="relu"),
                                  layers.Dense(10, activation="softmax")])
    return models.Sequential([layers.Reshape((28, 28, 1), input_shape=(28, 28)),
                              layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                              layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
                              layers.Flatten(), layers.Dense(10, activation="softmax")])


def xlaflow_fit(x, y, kind, batch, steps_per_execution):
    model = build_model(kind)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return lambda: model.fit(x, y, epochs=1, batch_size=batch, verbose=0, shuffle=False)


def xlaflow_custom_loop(x, y, kind, batch):
    """The TF2 custom training loop: GradientTape in an xf.function, with an accuracy
    metric updated in the step, as the hand-written loop does."""
    model = build_model(kind)
    loss_fn = xf.keras.losses.SparseCategoricalCrossentropy()
    optimizer = xf.keras.optimizers.Adam(1e-3)
    accuracy = xf.keras.metrics.SparseCategoricalAccuracy()

    @xf.function(donate_variables=True)
    def train_step(xb, yb):
        with xf.GradientTape() as tape:
            probs = model(xb, training=True)
            loss = loss_fn(yb, probs)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        accuracy.update_state(yb, probs)
        return loss

    def epoch():
        for i in range(0, len(x), batch):
            loss = train_step(x[i:i + batch], y[i:i + batch])
        jax.block_until_ready(loss)

    return epoch


def init_params(key, kind):
    def glorot(k, shape):
        fan_in, fan_out = np.prod(shape[:-1]), shape[-1] * (np.prod(shape[:-2]) if
                                                           len(shape) > 2 else 1)
        limit = np.sqrt(6 / (fan_in + fan_out))
        return jax.random.uniform(k, shape, minval=-limit, maxval=limit)

    keys = jax.random.split(key, 3)
    if kind == "mlp":
        return {"w1": glorot(keys[0], (784, 128)), "b1": jnp.zeros(128),
                "w2": glorot(keys[1], (128, 10)), "b2": jnp.zeros(10)}
    return {"c1": glorot(keys[0], (3, 3, 1, 32)), "cb1": jnp.zeros(32),
            "c2": glorot(keys[1], (3, 3, 32, 64)), "cb2": jnp.zeros(64),
            "w": glorot(keys[2], (5 * 5 * 64, 10)), "b": jnp.zeros(10)}


def forward(params, x):
    if "w1" in params:
        h = jax.nn.relu(x.reshape(x.shape[0], -1) @ params["w1"] + params["b1"])
        return jax.nn.softmax(h @ params["w2"] + params["b2"])
    h = x[..., None]
    for k, b in (("c1", "cb1"), ("c2", "cb2")):
        h = jax.nn.relu(jax.lax.conv_general_dilated(
            h, params[k], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            + params[b])
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                  "VALID")
    return jax.nn.softmax(h.reshape(h.shape[0], -1) @ params["w"] + params["b"])


def loss_fn(params, x, y):
    probs = forward(params, x)
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


def hand_loop(x, y, kind, batch):
    params = init_params(jax.random.PRNGKey(0), kind)
    state = [(params, tx.init(params), jnp.zeros(3))]
    step = jax.jit(train_step, donate_argnums=0)

    def epoch():
        for i in range(0, len(x), batch):
            state[0] = step(state[0], x[i:i + batch], y[i:i + batch])
        jax.block_until_ready(state[0])

    return epoch


def hand_scan(x, y, kind, batch):
    params = init_params(jax.random.PRNGKey(0), kind)
    state = [(params, tx.init(params), jnp.zeros(3))]
    steps = len(x) // batch

    @functools.partial(jax.jit, donate_argnums=0)
    def scan_epoch(state, xs, ys):
        return jax.lax.scan(lambda s, b: (train_step(s, *b), None), state, (xs, ys))[0]

    def epoch():
        xs = x[:steps * batch].reshape(steps, batch, 28, 28)
        ys = y[:steps * batch].reshape(steps, batch)
        state[0] = scan_epoch(state[0], xs, ys)
        jax.block_until_ready(state[0])

    return epoch


def keras3_fit(x, y, kind, batch):
    try:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras
    except ImportError:
        return None
    if keras.backend.backend() != "jax":
        return None
    kl = keras.layers
    if kind == "mlp":
        stack = [kl.Flatten(), kl.Dense(128, activation="relu")]
    else:
        stack = [kl.Reshape((28, 28, 1)), kl.Conv2D(32, 3, activation="relu"),
                 kl.MaxPooling2D(), kl.Conv2D(64, 3, activation="relu"), kl.MaxPooling2D(),
                 kl.Flatten()]
    model = keras.Sequential([keras.Input((28, 28)), *stack,
                              kl.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return lambda: model.fit(x, y, epochs=1, batch_size=batch, verbose=0, shuffle=False)


def compare(kind, batch, samples):
    x, y = data(samples)
    runners = {"hand-written jit step loop": hand_loop(x, y, kind, batch),
               "hand-written lax.scan epoch": hand_scan(x, y, kind, batch),
               "xlaflow fit": xlaflow_fit(x, y, kind, batch, 1),
               "xlaflow fit steps_per_execution=32": xlaflow_fit(x, y, kind, batch, 32),
               "xlaflow custom loop (GradientTape)": xlaflow_custom_loop(x, y, kind, batch)}
    keras = keras3_fit(x, y, kind, batch)
    if keras is not None:
        runners["Keras 3 fit (jax backend)"] = keras
    times = {name: [] for name in runners}
    for round_index in range(EPOCHS):  # interleaved: machine noise hits every contender
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            if round_index:  # the first round compiles
                times[name].append(time.perf_counter() - start)
    rate = {name: samples / statistics.median(t) for name, t in times.items()}
    loop = rate["hand-written jit step loop"]
    best = max(loop, rate["hand-written lax.scan epoch"])
    print(f"{kind.upper()}, batch {batch}, {samples} samples/epoch, median of {EPOCHS - 1} "
          "interleaved epochs")
    for name in runners:
        print(f"  {name:38s} {rate[name]:10.0f} samples/s   vs loop {rate[name] / loop:5.2f}"
              f"   vs best hand-written {rate[name] / best:5.2f}")
    if keras is None:
        print("  (Keras 3 not installed: pip install 'xlaflow[bench]' to compare)")


def main():
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()})")
    compare("mlp", 32, SAMPLES)
    compare("cnn", 128, CNN_SAMPLES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
