"""`fit` throughput under MirroredStrategy with 1, 2 and 4 devices, and the ratio vs 1.

Two models on synthetic data of MNIST's shape: an MLP (Flatten -> Dense 256 relu ->
Dense 10, batch 256) and a small CNN (Conv2D 16 -> pool -> Conv2D 32 -> pool -> Dense 10,
batch 128); Adam, sparse categorical cross-entropy, accuracy. Each configuration runs in
its own process, because the device count is fixed when JAX starts: CPU with
XLA_FLAGS=--xla_force_host_platform_device_count=N, and, when a GPU is present, the GPUs
(1 and all of them). Prints samples/s (median of the epochs after a warm-up epoch).

Forced host devices share the machine's cores, so the gain over 1 device is bounded by
the cores one device leaves idle: an MLP's matmuls already use every core (N devices only
add the SPMD overhead), while XLA:CPU runs small convolutions on fewer threads than there
are cores (N devices fill them). On 2 physical cores, expect at most about 2x.

    python benchmarks/distribute_bench.py [--epochs 4] [--devices 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODELS = {"mlp": (8192, 256), "cnn": (2048, 128)}  # samples, global batch


def child(platform, devices, kind, epochs):
    """Runs in the subprocess: fit `kind` under MirroredStrategy on `devices` devices."""
    os.environ.setdefault("XLAFLOW_COMPILATION_CACHE_DIR", "off")
    import jax
    import numpy as np

    import xlaflow as xf
    from xlaflow.keras import layers, models

    chosen = jax.devices(platform)[:devices]
    if len(chosen) < devices:
        raise SystemExit(f"asked for {devices} {platform} devices; found {len(chosen)}")
    samples, batch = MODELS[kind]
    rng = np.random.default_rng(0)
    x = rng.random((samples, 28, 28), np.float32)
    y = rng.integers(0, 10, samples).astype(np.int32)
    strategy = xf.distribute.MirroredStrategy(chosen)
    with strategy.scope():
        xf.random.set_global_seed(0)
        if kind == "mlp":
            model = models.Sequential([layers.Flatten(input_shape=(28, 28)),
                                       layers.Dense(256, activation="relu"),
                                       layers.Dense(10, activation="softmax")])
        else:
            model = models.Sequential([
                layers.Reshape((28, 28, 1), input_shape=(28, 28)),
                layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(),
                layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                layers.Flatten(), layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=batch, shuffle=False, verbose=0)  # ends synced
        times.append(time.perf_counter() - start)
    print(json.dumps({"samples_per_s": samples / statistics.median(times[1:]),
                      "warmup_s": times[0]}))


def run(platform, devices, kind, epochs):
    env = dict(os.environ)
    if platform == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
        env["XLA_FLAGS"] = " ".join(
            [f for f in env.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")] +
            [f"--xla_force_host_platform_device_count={devices}"])
    done = subprocess.run([sys.executable, __file__, "--child", platform, str(devices), kind,
                           str(epochs)], env=env, check=False, capture_output=True, text=True,
                          timeout=900)
    if done.returncode:
        return None, done.stderr.strip().splitlines()[-1:] or ["failed"]
    return json.loads(done.stdout.strip().splitlines()[-1]), None


def gpu_count():
    probe = "import jax\ntry:\n print(len(jax.devices('gpu')))\nexcept RuntimeError:\n print(0)"
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True,
                          text=True, timeout=300)
    return int(done.stdout.strip() or 0) if done.returncode == 0 else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="including one warm-up epoch")
    parser.add_argument("--devices", default="1,2,4", help="forced host device counts")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        platform, devices, kind, epochs = args.child
        return child(platform, int(devices), kind, int(epochs))
    if args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (one warm-up); received {args.epochs}")
    cpu_counts = [int(n) for n in args.devices.split(",")]
    gpus = gpu_count()
    print(f"host: {os.cpu_count()} cores; GPUs: {gpus or 'none'}")
    if (os.cpu_count() or 1) <= 2:
        print(f"note: forced host devices share these {os.cpu_count()} cores: the gain over "
              "1 device is bounded by the cores one device leaves idle (at most about "
              f"{os.cpu_count()}x; a model that already fills them only pays the overhead)")
    plans = [("cpu", n) for n in cpu_counts]
    if gpus:
        plans += [("gpu", n) for n in sorted({1, gpus})]
    for kind, (samples, batch) in MODELS.items():
        print(f"\n{kind}: {samples} samples, global batch {batch}, median of "
              f"{args.epochs - 1} epochs after warm-up")
        base = {}
        for platform, devices in plans:
            result, error = run(platform, devices, kind, args.epochs)
            label = f"{platform} x{devices}"
            if result is None:
                print(f"  {label:8s}  failed: {error[0]}")
                continue
            rate = result["samples_per_s"]
            base.setdefault(platform, rate)
            print(f"  {label:8s}  {rate:10.0f} samples/s   {rate / base[platform]:5.2f}x vs "
                  f"{platform} x1   (warm-up epoch {result['warmup_s']:.1f}s)")


if __name__ == "__main__":
    main()
