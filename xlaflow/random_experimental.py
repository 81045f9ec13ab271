"""xf.random.experimental: TF's seed arithmetic for the stateless ops (stateless_split and
stateless_fold_in), so a tf.data pipeline can derive one fresh [2] seed per element or step.

A new seed is two 32-bit words drawn from the key that `seed` names (the key the stateless
samplers use), so a derived seed feeds xf.random.stateless_* and xf.image.stateless_random_*.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import random as _random


def _seed_and_key(seed, op):
    seed = jnp.asarray(seed)
    if not jnp.issubdtype(seed.dtype, jnp.integer):
        raise ValueError(f"xf.random.experimental.{op}: seed must be a shape [2] integer "
                         f"tensor; received dtype {seed.dtype}")
    return seed.dtype, _random._stateless_key(seed, f"experimental.{op}")


def _as_seeds(key, shape, dtype):
    """`shape` seeds' words drawn from `key`, in the seed's integer dtype (TF keeps it)."""
    bits = jax.random.bits(key, shape, jnp.uint32)
    if dtype == jnp.int32:  # every 32-bit word, signed: a bit cast, not a clipping cast
        return jax.lax.bitcast_convert_type(bits, jnp.int32)
    return bits.astype(dtype)


def stateless_split(seed, num=2, alg="auto_select"):
    """tf.random.experimental.stateless_split: `num` new seeds, a [num, 2] tensor of the
    seed's dtype, each different from `seed` and from one another (JAX's bits, not TF's)."""
    if isinstance(num, (bool, np.bool_)) or not isinstance(num, numbers.Integral) or num < 1:
        raise ValueError(f"xf.random.experimental.stateless_split: num must be a positive "
                         f"int; received {num!r}")
    num = int(num)  # NumPy integers too, as TF takes num as a shape entry
    dtype, key = _seed_and_key(seed, "stateless_split")
    keys = jax.random.split(key, num)
    return jax.vmap(lambda k: _as_seeds(k, (2,), dtype))(keys)


def stateless_fold_in(seed, data, alg="auto_select"):
    """tf.random.experimental.stateless_fold_in: a new [2] seed from `seed` and an integer
    `data` (e.g. a step or element index); the same pair always gives the same seed."""
    data = jnp.asarray(data)
    if data.shape != () or not jnp.issubdtype(data.dtype, jnp.integer):
        raise ValueError(f"xf.random.experimental.stateless_fold_in: data must be an integer "
                         f"scalar; received shape {data.shape} and dtype {data.dtype}")
    dtype, key = _seed_and_key(seed, "stateless_fold_in")
    return _as_seeds(jax.random.fold_in(key, data), (2,), dtype)
