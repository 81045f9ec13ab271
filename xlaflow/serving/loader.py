"""The Loader: an export directory -> a Servable that is compiled and warmed up.

It reads exports only through xlaflow.saving.loaded (checked against their manifest; no
model code). Before a version is declared AVAILABLE it runs every signature once per batch
size it will be called with, so XLA compiles during loading and never under traffic.
"""

from __future__ import annotations

import time

import numpy as np

from xlaflow.saving import loaded


class Servable:
    """One loaded version of one model: its signatures, ready to call."""

    def __init__(self, name, version, path, model, warmup_seconds):
        self.name, self.version, self.path = name, version, path
        self.model = model
        self.signatures = model.signatures
        self.described = {n: s.description for n, s in model.signatures.items()}
        self.warmup_seconds = warmup_seconds


def _example(spec, batch):
    shape = [batch if axis == 0 and d is None else (1 if d is None else d)
             for axis, d in enumerate(spec["shape"])]
    return np.zeros(shape, np.dtype(spec["dtype"]))


def load_servable(name, version, path, batch_sizes=(1,), warmup=True):
    """Load `path` and run each signature on zeros for each of `batch_sizes`.

    Raises CorruptSaveError for a partial or tampered export, and whatever a warm-up call
    raises for a program this machine cannot run.
    """
    model = loaded.load(path)
    start = time.perf_counter()
    if warmup:
        for signature in model.signatures.values():
            batched = signature.shares_batch
            for batch in (batch_sizes if batched else (1,)):
                inputs = [_example(spec, batch) for spec in signature.inputs]
                for out in signature.call_flat(inputs):
                    out.block_until_ready()
    return Servable(name, version, path, model, time.perf_counter() - start)
