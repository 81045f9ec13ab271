"""Saving and restoring a ~10M-parameter model, next to orbax writing the same arrays.

Prints medians over REPEATS (interleaved, so machine noise hits both sides alike):
  save_weights / load_weights vs orbax StandardCheckpointer save / restore of the same dict;
  model.save (weights + Adam state + export for cpu, cuda and tpu) / load_model;
  bytes on disk; and export load-to-first-prediction (xf.saved_model.load + one call).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

import jax
import numpy as np

import xlaflow as xf
from xlaflow.keras import layers, models

REPEATS = 5


def build():
    model = models.Sequential([layers.Dense(2048, activation="relu", input_shape=(784,)),
                               layers.Dense(2048, activation="relu"),
                               layers.Dense(2048, activation="relu"),
                               layers.Dense(10)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(32, 784)).astype(np.float32)
    model.train_on_batch(x, np.zeros(32, np.int32))  # builds the Adam state
    return model, x


def du(path):
    return sum(os.path.getsize(os.path.join(p, n)) for p, _, ns in os.walk(path) for n in ns)


def timed(fn, *args):
    """Seconds `fn(*args)` takes (arguments, not a closure: the loop's paths bind now)."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main():
    import orbax.checkpoint as ocp
    model, x = build()
    params = model.count_params()
    root = tempfile.mkdtemp(prefix="xf-saving-bench-")
    arrays = {f"{i:04d}": w.value for i, w in enumerate(model.weights)}
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sharding)
              for k, v in arrays.items()}
    rows = {k: [] for k in ("orbax save", "orbax restore", "save_weights", "load_weights",
                            "model.save", "load_model", "export load+1st predict")}
    sizes = {}
    def orbax_save(ckpt, path):
        ckpt.save(path, arrays)
        ckpt.wait_until_finished()

    def orbax_restore(path):
        jax.block_until_ready(ocp.StandardCheckpointer().restore(path, target))

    def export_predict(path):
        np.asarray(xf.saved_model.load(path).signatures["serving_default"](x)["dense_3"])

    for r in range(REPEATS):
        path = os.path.join(root, f"orbax{r}")
        rows["orbax save"].append(timed(orbax_save, ocp.StandardCheckpointer(), path))
        rows["orbax restore"].append(timed(orbax_restore, path))
        sizes["orbax"] = du(path)
        wpath = os.path.join(root, f"w{r}")
        rows["save_weights"].append(timed(model.save_weights, wpath))
        rows["load_weights"].append(timed(model.load_weights, wpath))
        sizes["save_weights"] = du(wpath)
        mpath = os.path.join(root, f"m{r}")
        rows["model.save"].append(timed(model.save, mpath))
        rows["load_model"].append(timed(models.load_model, mpath))
        sizes["model.save"] = du(mpath)
        rows["export load+1st predict"].append(timed(export_predict, mpath))
    shutil.rmtree(root, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"model: {params / 1e6:.1f}M parameters, {jax.devices()[0].platform}; medians of "
          f"{REPEATS}")
    print(f"{'':28s}{'seconds':>9s}{'vs orbax':>10s}")
    for name, base in (("orbax save", "orbax save"), ("save_weights", "orbax save"),
                       ("model.save", "orbax save"), ("orbax restore", "orbax restore"),
                       ("load_weights", "orbax restore"), ("load_model", "orbax restore"),
                       ("export load+1st predict", "orbax restore")):
        print(f"{name:28s}{med[name]:9.3f}{med[name] / med[base]:9.2f}x")
    for name, size in sizes.items():
        print(f"bytes on disk, {name:14s}{size / 1e6:9.1f} MB ({size / sizes['orbax']:.2f}x)")


if __name__ == "__main__":
    main()
