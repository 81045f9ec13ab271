"""Random state as Variables: reproducible under jit, advanced by assignment.

A `SeedGenerator` holds a PRNG key in a non-trainable Variable; `next()` splits it and
assigns the new key, so inside xf.function or fit the key is ordinary lifted state and each
step draws fresh randomness without retracing.
"""

from __future__ import annotations

import itertools
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _lifting, _op_dispatch
from xlaflow._host_arrays import host_to_device
from xlaflow.module import Module
from xlaflow.variables import Variable

_global_seed = [None]
_counter = itertools.count()


def set_global_seed(seed):
    """Seed the keys that initializers and unseeded layers draw (Keras' set_random_seed)."""
    global _counter
    _global_seed[0] = int(seed)
    _counter = itertools.count()


def _seed():
    """The global seed: set_global_seed's, else one drawn from entropy on first use."""
    if _global_seed[0] is None:
        import secrets
        set_global_seed(secrets.randbits(31))
    return _global_seed[0]


def drawn_flat(sample, key, shape):
    """`sample(key, shape)`, a jax.random sampler, drawn as `sample(key, (size,))` reshaped
    when threefry's counters are the values' flat positions (jax_threefry_partitionable):
    the same values bit for bit, from a program that compiles in about half the time for a
    rank-3 shape, a quarter for rank 4 (the counters of a multi-dimensional iota). A
    dropout mask is one in every training step's program.

    Eagerly on the CPU (`key` concrete there), the draw is the first values of one whose
    size is the next power of two, cut on the host: an eager layer call on a new shape then
    compiles no threefry program (~0.3 s each) unless its size class is new, as the
    initializers draw. Not on a GPU/TPU, where the cut would wait for the device and copy
    the values there and back; traced, the draw keeps its own size (no extra values per
    step)."""
    shape = tuple(shape)
    config = jax.config
    if not getattr(config, "jax_threefry_partitionable", False) or \
            str(getattr(config, "jax_default_prng_impl", "threefry2x32")) != "threefry2x32":
        return sample(key, shape)
    size = math.prod(shape)
    if size > 1 and isinstance(key, jax.Array) and not isinstance(key, jax.core.Tracer) and \
            all(d.platform == "cpu" for d in key.devices()):
        flat = np.asarray(sample(key, (1 << (size - 1).bit_length(),)))
        return host_to_device(flat[:size].reshape(shape))
    if len(shape) < 2:
        return sample(key, shape)
    return sample(key, (size,)).reshape(shape)


def next_key():
    """A fresh key from the global stream (seeded by set_global_seed, else by entropy)."""
    seed = _seed()
    with jax.ensure_compile_time_eval():
        return jax.random.fold_in(jax.random.PRNGKey(seed), next(_counter))


class SeedGenerator(Module):
    """A stream of PRNG keys whose state is a Variable (`name`/seed_state)."""

    def __init__(self, seed=None, name="seed_generator", key=None):
        super().__init__(name=name)
        # `key` (a PRNG key) starts the stream there: an initial value, not an assignment,
        # as a Variable made during an xf.function's discovery trace keeps no assignment
        with jax.ensure_compile_time_eval():
            if key is None:
                key = jax.random.PRNGKey(seed) if seed is not None else next_key()
        self.state = Variable(key, trainable=False, name=f"{name}/seed_state")

    def next(self):
        """A new key; advances the state."""
        new_state, key = jax.random.split(self.state.value)
        self.state.assign(new_state)
        return key


# -- tf.random: TF's stateful sampling ops over one global SeedGenerator ------------------
# The global generator's key is a Variable, so inside xf.function each call draws fresh
# values (its assignment persists), as TF's stateful ops do, instead of a key frozen at
# trace time.
_global_generator = [None]


def _generator():
    if _global_generator[0] is None:
        # seeded without drawing from next_key: making it must not shift the keys that
        # initializers draw after a set_seed, or the first reseeded run would differ
        with _lifting.outside_traces(), jax.ensure_compile_time_eval():
            _global_generator[0] = SeedGenerator(seed=_seed(), name="global_random")
    return _global_generator[0]


# TF's DEFAULT_GRAPH_SEED: the global seed an op seed pairs with before any set_seed, so
# `normal(shape, seed=1)` repeats from run to run as in TF
_DEFAULT_OP_GLOBAL_SEED = 87654321
_set_seed = [None]  # what xf.random.set_seed was last given
_seedings = [0]  # how many times set_seed was called
# op seed -> its own stream: TF keeps one counter per (global seed, op seed), so an
# op-seeded call's values do not depend on how many other draws came before it
_op_generators = {}


def global_seed_for_op():
    """The global seed an op seed pairs with (TF's rule): set_seed's, else TF's default."""
    return _DEFAULT_OP_GLOBAL_SEED if _set_seed[0] is None else _set_seed[0]


def _op_start(op_seed):
    return jax.random.fold_in(jax.random.PRNGKey(global_seed_for_op()), op_seed)


def set_seed(seed):
    """tf.random.set_seed: makes the global stream (these ops, initializers, unseeded
    layers) repeat from `seed`, so a program run twice draws the same values."""
    # a NumPy integer too (TF converts it), as seeds drawn with np.random often are
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"xf.random.set_seed: seed must be an int; received {seed!r}")
    seed = int(seed)
    set_global_seed(seed)
    _set_seed[0] = seed
    _seedings[0] += 1  # host streams keyed on it restart (xf.image's random flips)
    with jax.ensure_compile_time_eval():
        _generator().state.assign(jax.random.PRNGKey(seed))
        for op_seed, generator in _op_generators.items():  # TF restarts them too
            generator.state.assign(_op_start(op_seed))


def _key(seed):
    # no op seed: the global stream; an op seed: its own stream, made on first use (also
    # inside an xf.function's first trace, as TF makes its kernel there)
    if seed is None:
        return _generator().next()
    op_seed = int(seed) % 2 ** 32
    if op_seed not in _op_generators:
        # outside the trace, as TF makes no Variable for it: a retrace may see a new seed
        with _lifting.outside_traces(), jax.ensure_compile_time_eval():
            _op_generators[op_seed] = SeedGenerator(name=f"op_seed_{op_seed}",
                                                    key=_op_start(op_seed))
    return _op_generators[op_seed].next()


def _float_dtype(dtype, op):
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"xf.random.{op}: dtype must be a float dtype; received {dtype}")
    return dtype


def normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None, name=None):
    """tf.random.normal: samples of N(mean, stddev**2) of `shape`."""
    return sample_normal(_key(seed), shape, mean, stddev, dtype, "normal")


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None, name=None):
    """tf.random.truncated_normal: N(mean, stddev**2) redrawn outside two stddevs."""
    return sample_truncated_normal(_key(seed), shape, mean, stddev, dtype, "truncated_normal")


def uniform(shape, minval=0, maxval=None, dtype="float32", seed=None, name=None):
    """tf.random.uniform: uniform in [minval, maxval); floats default to [0, 1), integer
    dtypes need `maxval` (as TF)."""
    return sample_uniform(_key(seed), shape, minval, maxval, dtype, "uniform")


# -- the samplers, given a key: the stateful ops, the stateless ones and Generator's ------

def sample_normal(key, shape, mean, stddev, dtype, op):
    dtype = _float_dtype(dtype, op)
    return (jax.random.normal(key, tuple(shape), dtype) * stddev + mean).astype(dtype)


def sample_truncated_normal(key, shape, mean, stddev, dtype, op):
    dtype = _float_dtype(dtype, op)
    unit = jax.random.truncated_normal(key, -2.0, 2.0, tuple(shape), dtype)
    return (unit * stddev + mean).astype(dtype)


def sample_uniform(key, shape, minval, maxval, dtype, op):
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.integer):
        if maxval is None:
            raise ValueError(f"xf.random.{op}: maxval must be given for dtype {dtype}; "
                             "received None")
        return jax.random.randint(key, tuple(shape), minval, maxval, dtype)
    dtype = _float_dtype(dtype, op)
    return jax.random.uniform(key, tuple(shape), dtype, minval,
                              1.0 if maxval is None else maxval)


def shuffle(value, seed=None, name=None):
    """tf.random.shuffle: `value` with its first dimension randomly permuted."""
    value = jnp.asarray(value)
    key = _key(seed)  # drawn for a scalar too, as TF's op takes its seed either way
    if value.ndim == 0:  # TF returns a scalar as is; jax would permute range(value)
        return value
    return jax.random.permutation(key, value, axis=0)


def categorical(logits, num_samples, dtype="int32", seed=None, name=None):
    """tf.random.categorical: `[batch, num_samples]` class indices drawn from the rows of
    unnormalized log-probabilities `logits` (`[batch, classes]`); int32 by default, where
    TF's is int64, as JAX has no int64 without jax_enable_x64 (like xf.argmax)."""
    logits = jnp.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"xf.random.categorical: logits must be 2-D [batch, classes]; "
                         f"received shape {logits.shape}")
    samples = jax.random.categorical(_key(seed), logits[:, None, :], axis=-1,
                                     shape=(logits.shape[0], int(num_samples)))
    return samples.astype(dtype)


def _stateless_key(seed, op):
    seed = jnp.asarray(seed)
    if seed.shape != (2,):
        raise ValueError(f"xf.random.{op}: seed must be a shape [2] integer tensor; "
                         f"received shape {seed.shape}")
    return jax.random.fold_in(jax.random.PRNGKey(seed[0]), seed[1])


def stateless_normal(shape, seed, mean=0.0, stddev=1.0, dtype="float32", name=None):
    """tf.random.stateless_normal: the same values for the same `seed` ([2] ints), always
    (JAX's bits, not TF's)."""
    key = _stateless_key(seed, "stateless_normal")
    return sample_normal(key, shape, mean, stddev, dtype, "stateless_normal")


def stateless_uniform(shape, seed, minval=0, maxval=None, dtype="float32", name=None):
    """tf.random.stateless_uniform: `uniform` determined by `seed` ([2] ints) alone."""
    key = _stateless_key(seed, "stateless_uniform")
    return sample_uniform(key, shape, minval, maxval, dtype, "stateless_uniform")


def get_global_generator():
    """tf.random.get_global_generator: the Generator the stateful ops draw from."""
    return Generator(_seeds=_generator())


# tf.random.Generator (its own module, which samples with the functions above),
# tf.random.experimental's seed arithmetic and the candidate samplers (which draw with
# _key): at the end, as they import this module
from xlaflow import random_experimental as experimental  # noqa: F401
from xlaflow.random_candidates import (  # noqa: F401  (xf.random's public names)
    log_uniform_candidate_sampler,
    uniform_candidate_sampler,
)
from xlaflow.random_generator import Generator

# Last, once every function exists: the public ones accept symbolic Keras tensors
_op_dispatch.expose(globals(), "random")
