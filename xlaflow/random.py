"""Random state as Variables: reproducible under jit, advanced by assignment.

A `SeedGenerator` holds a PRNG key in a non-trainable Variable; `next()` splits it and
assigns the new key, so inside xf.function or fit the key is ordinary lifted state and each
step draws fresh randomness without retracing.
"""

from __future__ import annotations

import itertools

import jax

from xlaflow.module import Module
from xlaflow.variables import Variable

_global_seed = [None]
_counter = itertools.count()


def set_global_seed(seed):
    """Seed the keys that initializers and unseeded layers draw (Keras' set_random_seed)."""
    global _counter
    _global_seed[0] = int(seed)
    _counter = itertools.count()


def next_key():
    """A fresh key from the global stream (seeded by set_global_seed, else by entropy)."""
    if _global_seed[0] is None:
        import secrets
        set_global_seed(secrets.randbits(31))
    with jax.ensure_compile_time_eval():
        return jax.random.fold_in(jax.random.PRNGKey(_global_seed[0]), next(_counter))


class SeedGenerator(Module):
    """A stream of PRNG keys whose state is a Variable (`name`/seed_state)."""

    def __init__(self, seed=None, name="seed_generator"):
        super().__init__(name=name)
        with jax.ensure_compile_time_eval():
            key = jax.random.PRNGKey(seed) if seed is not None else next_key()
        self.state = Variable(key, trainable=False, name=f"{name}/seed_state")

    def next(self):
        """A new key; advances the state."""
        new_state, key = jax.random.split(self.state.value)
        self.state.assign(new_state)
        return key
