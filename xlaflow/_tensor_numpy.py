"""TF's `Tensor.numpy()` on xlaflow's eager tensors, which are jax arrays: `loss.numpy()`,
`model(x).numpy()` port unchanged.

Installed on JAX's array type when xlaflow is imported, only where JAX defines no
`numpy` of its own (it adds a method, hides nothing). Like TF's, it returns a writable
NumPy copy, and a NumPy scalar for a 0-d tensor. Traced values (inside xf.function) have
none, as TF's symbolic tensors have none: JAX's AttributeError, as TF's.
"""

from __future__ import annotations

import jax
import numpy as np


def _numpy(self):
    """The tensor's value as NumPy (TF's Tensor.numpy): a copy; a scalar for 0-d."""
    value = np.array(self)
    return value[()] if value.ndim == 0 else value


def install():
    # On jax.Array, the base of JAX's concrete array type (tracers are only registered as
    # its virtual subclasses, so they get none): making an array to find the concrete type
    # would start JAX's backend at import, before jax.distributed.initialize can run
    if not hasattr(jax.Array, "numpy"):
        jax.Array.numpy = _numpy


install()
