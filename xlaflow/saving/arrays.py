"""Flat `{key: array}` dictionaries in an orbax checkpoint directory.

The one place that talks to orbax for weights: save waits for orbax's background write,
and restore names the shape, dtype and device of every array it expects, so a directory
saved on a GPU host loads on a CPU-only one and a wrong file fails before any use.
"""

from __future__ import annotations

import jax
import numpy as np


def _checkpointer():
    import orbax.checkpoint as ocp  # imported on use: a heavy dependency
    return ocp.StandardCheckpointer()


def save_arrays(directory, arrays):
    """Write `arrays` (a dict of arrays) to the new directory `directory`, synchronously."""
    checkpointer = _checkpointer()
    checkpointer.save(directory, dict(arrays))
    checkpointer.wait_until_finished()


def restore_arrays(directory, specs, device=None):
    """Read the arrays named by `specs` ({key: (shape, dtype)}) onto `device`; without one,
    onto the default device uncommitted (jax.device_put of host arrays), as a Variable's
    fresh value is: a jitted step given a mix of committed and uncommitted arguments
    returns committed ones, so a loaded model's first fit compiled its train step twice
    (for its first and second calls)."""
    if not specs:
        return {}  # a model without weights: orbax may have written no directory at all
    if device is None:
        target = {key: np.zeros(tuple(shape), np.dtype(dtype))
                  for key, (shape, dtype) in specs.items()}
    else:
        sharding = jax.sharding.SingleDeviceSharding(device)
        target = {key: jax.ShapeDtypeStruct(tuple(shape), np.dtype(dtype), sharding=sharding)
                  for key, (shape, dtype) in specs.items()}
    restored = _checkpointer().restore(directory, target)
    for key, (shape, dtype) in specs.items():
        got = restored.get(key)
        if got is None or tuple(got.shape) != tuple(shape) or got.dtype != np.dtype(dtype):
            raise ValueError(f"{directory}: array {key!r} should be {np.dtype(dtype).name}"
                             f"{list(shape)}; the checkpoint holds "
                             f"{None if got is None else (got.dtype.name, list(got.shape))}")
    if device is None:
        restored = {key: jax.device_put(value) for key, value in restored.items()}
    return restored


def stored_specs(directory):
    """{key: (shape, dtype)} of what an orbax directory holds (from its metadata)."""
    metadata = _checkpointer().metadata(directory)
    tree = getattr(metadata, "item_metadata", metadata)
    tree = getattr(tree, "tree", tree)
    return {key: (tuple(m.shape), np.dtype(m.dtype)) for key, m in dict(tree).items()}
