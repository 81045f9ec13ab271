"""NumPy arrays onto the device without compiling anything.

`jnp.asarray(ndarray)` stages the array through a program XLA compiles for each new shape
and dtype (JAX 0.10), so eager code paid a compile for every new batch, entry count or
weight shape. A host conversion and `jax.device_put` compile nothing; the host copy first
because on the CPU `device_put` may share the memory of the array it is given, which its
owner may change later."""

from __future__ import annotations

import jax
import numpy as np


def host_to_device(host, dtype=None):
    """`host` (array-like) as a device array of its own, in `dtype` (default: its own),
    canonicalized as jnp.asarray does (float64 -> float32 unless x64 is on)."""
    host = np.asarray(host)
    dtype = jax.dtypes.canonicalize_dtype(host.dtype if dtype is None else dtype)
    return jax.device_put(np.array(host, dtype, copy=True))


def on_device(value):
    """A NumPy array as host_to_device gives it; anything else as it is."""
    return host_to_device(value) if isinstance(value, np.ndarray) else value
