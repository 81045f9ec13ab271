"""`fit` fed by an xf.data pipeline against `fit` on in-memory arrays, same run.

The MNIST program's MLP (batch 32, Adam) on synthetic data of MNIST's shape. The pipeline is
TF's usual `from_tensor_slices((x, y)).shuffle(buffer).batch(32).prefetch(AUTOTUNE)`; the
arrays side shuffles too. Epochs alternate between the two (noise hits both alike); prints
median samples/s after a warm-up epoch each, and the ratio (target >= 0.95).
"""

from __future__ import annotations

import os

os.environ.setdefault("XLAFLOW_COMPILATION_CACHE_DIR", "off")

import statistics
import time

import numpy as np

import xlaflow as xf

SAMPLES = int(os.environ.get("DATA_BENCH_SAMPLES", "16384"))
ROUNDS = 5


def model():
    from xlaflow.keras import layers, models
    m = models.Sequential([layers.Flatten(input_shape=(28, 28)),
                           layers.Dense(128, activation="relu"),
                           layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def main():
    rng = np.random.default_rng(0)
    x = rng.random((SAMPLES, 28, 28), np.float32)
    y = rng.integers(0, 10, SAMPLES)
    dataset = xf.data.Dataset.from_tensor_slices((x, y)).shuffle(10_000, seed=1).batch(32) \
        .prefetch(xf.data.AUTOTUNE)
    on_arrays, on_dataset = model(), model()
    runs = {"arrays": lambda: on_arrays.fit(x, y, batch_size=32, epochs=1, verbose=0),
            "dataset": lambda: on_dataset.fit(dataset, epochs=1, verbose=0)}
    times = {name: [] for name in runs}
    for round_ in range(ROUNDS + 1):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if round_:  # round 0 compiles
                times[name].append(time.perf_counter() - start)
    rate = {name: SAMPLES / statistics.median(t) for name, t in times.items()}
    print(f"fit, MLP batch 32, {SAMPLES} samples, median of {ROUNDS} epochs each")
    print(f"  in-memory arrays (shuffled)      {rate['arrays']:10,.0f} samples/s")
    print(f"  from_tensor_slices.shuffle.batch {rate['dataset']:10,.0f} samples/s "
          f"({rate['dataset'] / rate['arrays']:.2f}x)")


if __name__ == "__main__":
    main()
