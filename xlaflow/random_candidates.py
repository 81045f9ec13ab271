"""tf.random's candidate samplers (log_uniform_candidate_sampler, uniform_candidate_sampler):
the negative classes of sampled softmax and word2vec, with TF's expected counts.

They follow TF's RangeSampler: with `unique=True` they draw until `num_sampled` distinct
values came up, and the expected counts use the number of draws that took (`num_tries`).
"""

from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp
from jax import lax

from xlaflow import errors


def _log_uniform_sample(u, range_max):
    # TF's LogUniformSampler::Sample: floor(exp(u * log(range_max + 1))) - 1, kept below
    # range_max (the modulo only guards float round-off, as TF's)
    value = jnp.floor(jnp.exp(u * jnp.log1p(jnp.float32(range_max)))).astype(jnp.int32) - 1
    return jnp.maximum(value, 0) % range_max


def _log_uniform_probability(values, range_max):
    # P(k) = (log(k + 2) - log(k + 1)) / log(range_max + 1), as log1p for float32 accuracy
    k = values.astype(jnp.float32)
    return jnp.log1p(1.0 / (k + 1.0)) / jnp.log1p(jnp.float32(range_max))


def _uniform_sample(u, range_max):
    return jnp.minimum(jnp.floor(u * range_max).astype(jnp.int32), range_max - 1)


def _uniform_probability(values, range_max):
    return jnp.full(values.shape, 1.0 / range_max, jnp.float32)


_DISTRIBUTIONS = {"log_uniform": (_log_uniform_sample, _log_uniform_probability),
                  "uniform": (_uniform_sample, _uniform_probability)}


def _expected_count(p, num_sampled, num_tries):
    # TF's ExpectedCountHelper: p * num_sampled when every draw was kept (always so without
    # unique), else the chance of appearing in num_tries draws, 1 - (1 - p)^num_tries
    with_replacement = p * num_sampled
    without = -jnp.expm1(num_tries.astype(jnp.float32) * jnp.log1p(-p))
    return jnp.where(num_tries == num_sampled, with_replacement, without)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _sample(key, true_classes, num_sampled, range_max, unique, distribution):
    draw, probability = _DISTRIBUTIONS[distribution]
    if unique:
        # TF's loop: draw one value at a time and keep it if new, until num_sampled are kept
        def cond(carry):
            return carry[2] < num_sampled

        def body(carry):
            key, batch, picked, tries = carry
            key, sub = jax.random.split(key)
            value = draw(jax.random.uniform(sub, (), jnp.float32), range_max)
            new = ~jnp.any(batch == value)
            batch = jnp.where(new, batch.at[picked].set(value), batch)
            return key, batch, picked + new.astype(jnp.int32), tries + 1

        start = (key, jnp.full((num_sampled,), -1, jnp.int32), jnp.int32(0), jnp.int32(0))
        _, sampled, _, num_tries = lax.while_loop(cond, body, start)
    else:
        sampled = draw(jax.random.uniform(key, (num_sampled,), jnp.float32), range_max)
        num_tries = jnp.int32(num_sampled)
    true_expected = _expected_count(probability(true_classes, range_max), num_sampled,
                                    num_tries)
    sampled_expected = _expected_count(probability(sampled, range_max), num_sampled,
                                       num_tries)
    return sampled, true_expected, sampled_expected


def _positive_int(value, argument, op):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"xf.random.{op}: {argument} must be a positive int; received "
                         f"{value!r}")
    return int(value)


def _candidates(true_classes, num_true, num_sampled, unique, range_max, seed, op,
                distribution):
    from xlaflow import random as _random  # xf.random imports this module
    num_true = _positive_int(num_true, "num_true", op)
    num_sampled = _positive_int(num_sampled, "num_sampled", op)
    range_max = _positive_int(range_max, "range_max", op)
    true_classes = jnp.asarray(true_classes)
    if not jnp.issubdtype(true_classes.dtype, jnp.integer):
        raise ValueError(f"xf.random.{op}: true_classes must be an integer tensor; received "
                         f"dtype {true_classes.dtype}")
    if true_classes.ndim != 2 or true_classes.shape[1] != num_true:
        raise ValueError(f"xf.random.{op}: true_classes must be a [batch_size, num_true="
                         f"{num_true}] matrix; received shape {true_classes.shape}")
    if unique and num_sampled > range_max:
        # TF's InvalidArgumentError "Sampler's range is too small"
        raise errors.InvalidArgumentError(
            None, None, f"xf.random.{op}: with unique=True num_sampled ({num_sampled}) must "
                        f"be at most range_max ({range_max}): the sampler's range is too small")
    return _sample(_random._key(seed), true_classes.astype(jnp.int32), num_sampled,
                   range_max, bool(unique), distribution)


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                  seed=None, name=None):
    """tf.random.log_uniform_candidate_sampler: `num_sampled` classes in [0, range_max)
    drawn with P(k) = log((k + 2) / (k + 1)) / log(range_max + 1) (Zipf-like: small ids,
    the frequent words of a sorted vocabulary, come up most), without replacement if
    `unique`. Returns (sampled_candidates [num_sampled], true_expected_count [batch_size,
    num_true], sampled_expected_count [num_sampled]): the expected number of times each
    class occurs in the sample, as TF computes it. The classes are int32 where TF's are
    int64, as JAX has no int64 without jax_enable_x64 (like xf.argmax). `seed` works as
    the other ops' op seed: calls with the same seed continue one stream."""
    return _candidates(true_classes, num_true, num_sampled, unique, range_max, seed,
                       "log_uniform_candidate_sampler", "log_uniform")


def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                              seed=None, name=None):
    """tf.random.uniform_candidate_sampler: as log_uniform_candidate_sampler, with every
    class in [0, range_max) equally likely (P(k) = 1 / range_max)."""
    return _candidates(true_classes, num_true, num_sampled, unique, range_max, seed,
                       "uniform_candidate_sampler", "uniform")
