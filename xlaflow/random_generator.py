"""tf.random.Generator: a stream of keys of its own, held in a Variable.

Draws advance the Variable, so inside xf.function each call samples anew without
retracing, a Checkpoint saves the stream's position, and `split` gives independent
streams. The bits are JAX's threefry, not TF's Philox: the same seed repeats here, not TF's
numbers.
"""

from __future__ import annotations

import numbers
import secrets

import jax
import jax.numpy as jnp

from xlaflow import _lifting
from xlaflow import random as _random
from xlaflow.module import Module

_INT32 = jnp.iinfo(jnp.int32)


def _seed_key(seed, where):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"xf.random.Generator.{where}: seed must be an int; received {seed!r}")
    with jax.ensure_compile_time_eval():
        return jax.random.PRNGKey(int(seed) % 2 ** 32)


# TF's algorithm names: a seed picks the stream whichever is named, and the bits never match
# TF's anyway (they are threefry's), so naming one changes nothing here
_ALGORITHMS = (None, "philox", "threefry", "auto_select")


def _check_alg(alg, where):
    name = getattr(alg, "name", alg)  # tf.random.Algorithm.PHILOX and friends
    if (name.lower() if isinstance(name, str) else name) not in _ALGORITHMS:
        raise ValueError(f"xf.random.Generator.{where}: argument 'alg' must be one of "
                         f"'philox', 'threefry', 'auto_select' or None; received {alg!r}")


class Generator(Module):
    """A random stream: `Generator.from_seed(1).normal((2, 3))`, as tf.random.Generator."""

    def __init__(self, copy_from=None, state=None, alg=None, *, name="generator",
                 _seeds=None, _key=None):
        super().__init__(name=name)
        if state is not None or alg not in (None, "threefry", "auto_select"):
            raise NotImplementedError(
                "xf.random.Generator(state=..., alg=...) is not implemented: its state is a "
                "JAX key, not TF's Philox counter; use Generator.from_seed(seed)")
        if _seeds is not None:  # a view of an existing stream (get_global_generator)
            self._seeds = _seeds
            return
        if copy_from is not None:
            _key = copy_from._seeds.state.value  # the same position: the same draws next
        if _key is None:
            raise TypeError("xf.random.Generator: give copy_from, or make one with "
                            "Generator.from_seed(seed) or from_non_deterministic_state()")
        # made outside any trace, as a Variable an xf.function creates is kept only from
        # its first trace
        with _lifting.outside_traces():
            self._seeds = _random.SeedGenerator(name=f"{name}/seeds", key=_key)

    @classmethod
    def from_seed(cls, seed, alg=None):
        """A generator whose draws are fixed by `seed` (any `alg`: the bits are threefry's)."""
        _check_alg(alg, "from_seed")
        return cls(_key=_seed_key(seed, "from_seed"))

    @classmethod
    def from_non_deterministic_state(cls, alg=None):
        """A generator seeded from the operating system's entropy."""
        _check_alg(alg, "from_non_deterministic_state")
        return cls(_key=_seed_key(secrets.randbits(32), "from_non_deterministic_state"))

    @classmethod
    def from_key_counter(cls, key, counter, alg):
        raise NotImplementedError(
            "xf.random.Generator.from_key_counter is not implemented (TF's Philox state); "
            "use Generator.from_seed(seed)")

    @property
    def state(self):
        """The Variable holding the stream's key."""
        return self._seeds.state

    @property
    def algorithm(self):
        return "threefry"

    def reset_from_seed(self, seed):
        """Restart the stream as `from_seed(seed)` would."""
        self._seeds.state.assign(_seed_key(seed, "reset_from_seed"))

    def normal(self, shape, mean=0.0, stddev=1.0, dtype="float32", name=None):
        return _random.sample_normal(self._seeds.next(), shape, mean, stddev, dtype,
                                     "Generator.normal")

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype="float32", name=None):
        return _random.sample_truncated_normal(self._seeds.next(), shape, mean, stddev, dtype,
                                               "Generator.truncated_normal")

    def uniform(self, shape, minval=0, maxval=None, dtype="float32", name=None):
        return _random.sample_uniform(self._seeds.next(), shape, minval, maxval, dtype,
                                      "Generator.uniform")

    def make_seeds(self, count=1):
        """`[2, count]` int32 seeds for the stateless ops (`seed=seeds[:, i]`)."""
        return jax.random.randint(self._seeds.next(), (2, int(count)), _INT32.min,
                                  _INT32.max, jnp.int32)

    def split(self, count=1):
        """`count` new generators, independent of each other and of this one (which
        advances)."""
        keys = jax.random.split(self._seeds.next(), int(count))
        return [Generator(name=f"{self.name}_split_{i}", _key=keys[i]) for i in range(int(count))]
