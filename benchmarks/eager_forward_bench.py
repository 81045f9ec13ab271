"""An eager Keras forward pass, `model(x)` with no xf.function, against the same math in
eager JAX, and both compiled.

The models: an MLP 64-128-64-10 with relu (batch 32) and a small conv net (Conv2D 16 relu,
MaxPooling2D, Flatten, Dense 10; batch 8 of 28x28x1). The hand-written JAX is what a JAX
user writes without jax.jit: jax.numpy and jax.nn, op by op (jax.nn.relu is a custom_jvp,
which JAX runs through Python when called eagerly). Compiled: the model inside
xf.function against the same function under jax.jit. Prints interleaved medians and the
ratios (xlaflow / jax).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from interleaved import report

import xlaflow as xf
from xlaflow import keras


def mlp():
    model = keras.Sequential([keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    x = jnp.asarray(np.random.default_rng(0).normal(size=(32, 64)), jnp.float32)
    model(x)

    def plain(params, x):
        (w1, b1), (w2, b2), (w3, b3) = params
        h = jax.nn.relu(x @ w1 + b1)
        h = jax.nn.relu(h @ w2 + b2)
        return h @ w3 + b3

    return "MLP 64-128-64-10, batch 32", model, x, plain


def convnet():
    model = keras.Sequential([keras.layers.Conv2D(16, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    x = jnp.asarray(np.random.default_rng(1).random((8, 28, 28, 1)), jnp.float32)
    model(x)

    def plain(params, x):
        (k, kb), (w, b) = params
        h = jax.lax.conv_general_dilated(x, k, (1, 1), "VALID",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        h = jax.nn.relu(h + kb)
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                  "VALID")
        return h.reshape(h.shape[0], -1) @ w + b

    return "conv net, batch 8 of 28x28x1", model, x, plain


def measure(name, model, x, plain):
    values = [jnp.asarray(v.numpy()) for v in model.trainable_variables]
    params = [tuple(values[i:i + 2]) for i in range(0, len(values), 2)]
    np.testing.assert_allclose(model(x), plain(params, x), rtol=1e-4, atol=1e-5)
    report(f"{name}, eager", {"eager jax": (plain, (params, x)),
                              "eager model(x)": (model, (x,))})
    report(f"{name}, compiled", {"jax.jit": (jax.jit(plain), (params, x)),
                                 "xf.function model(x)": (xf.function(lambda x: model(x)),
                                                          (x,))})


def main():
    keras.utils.set_random_seed(0)
    for build in (mlp, convnet):
        measure(*build())


if __name__ == "__main__":
    main()
