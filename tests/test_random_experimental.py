"""xf.random.experimental.stateless_split / stateless_fold_in: new [2] seeds drawn from the
key a seed names, checked against plain jax.random replaying that derivation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def _key(seed):
    # the key xf.random.stateless_* draw from for a [2] seed, written out in plain jax
    return jax.random.fold_in(jax.random.PRNGKey(seed[0]), seed[1])


def _words(key):
    return np.asarray(jax.random.bits(key, (2,), jnp.uint32)).view(np.int32)


def test_stateless_split_draws_num_seeds_from_the_seeds_key():
    seeds = np.asarray(xf.random.experimental.stateless_split([7, 3], num=3))
    assert seeds.shape == (3, 2) and seeds.dtype == np.int32
    expected = [_words(k) for k in jax.random.split(_key([7, 3]), 3)]
    np.testing.assert_array_equal(seeds, np.stack(expected))
    assert len({tuple(s) for s in seeds} | {(7, 3)}) == 4  # all new and all distinct


def test_stateless_split_defaults_to_two_and_repeats_under_jit():
    eager = xf.random.experimental.stateless_split(np.array([1, 2], np.int32))
    jitted = jax.jit(xf.random.experimental.stateless_split)(np.array([1, 2], np.int32))
    assert eager.shape == (2, 2)
    np.testing.assert_array_equal(eager, jitted)
    other = xf.random.experimental.stateless_split([1, 3])
    assert not np.array_equal(eager, other)


def test_stateless_fold_in_is_fold_in_of_the_seeds_key():
    for data in (0, 5, 2 ** 31 - 1):
        seed = xf.random.experimental.stateless_fold_in([4, 9], data)
        np.testing.assert_array_equal(seed, _words(jax.random.fold_in(_key([4, 9]), data)))
    a, b = (xf.random.experimental.stateless_fold_in([4, 9], i) for i in (1, 2))
    assert not np.array_equal(a, b)
    traced = xf.function(lambda s, i: xf.random.experimental.stateless_fold_in(s, i))
    np.testing.assert_array_equal(traced(np.array([4, 9], np.int32), np.int32(1)), a)


def test_derived_seeds_drive_the_stateless_samplers():
    seed = xf.random.experimental.stateless_split([1, 1], num=1)[0]
    x = xf.random.stateless_normal([4], seed=seed)
    np.testing.assert_array_equal(x, jax.random.normal(_key(np.asarray(seed)), (4,)))


def test_bad_seeds_and_arguments_are_refused():
    with pytest.raises(ValueError, match=r"seed must be a shape \[2\].*shape \(3,\)"):
        xf.random.experimental.stateless_split([1, 2, 3])
    with pytest.raises(ValueError, match="seed must be .* integer.*float32"):
        xf.random.experimental.stateless_fold_in(np.array([1.0, 2.0], np.float32), 1)
    with pytest.raises(ValueError, match="num must be a positive int; received 0"):
        xf.random.experimental.stateless_split([1, 2], num=0)
    with pytest.raises(ValueError, match="data must be an integer scalar"):
        xf.random.experimental.stateless_fold_in([1, 2], [1, 2])


def test_stateless_split_takes_a_numpy_integer_num():
    # TF takes num as a shape entry, so NumPy integers (len of an array, np.sum) work
    for num in (np.int64(3), np.int32(3)):
        seeds = xf.random.experimental.stateless_split([7, 3], num=num)
        np.testing.assert_array_equal(
            seeds, np.stack([_words(k) for k in jax.random.split(_key([7, 3]), 3)]))
    with pytest.raises(ValueError, match="num must be a positive int; received 2.0"):
        xf.random.experimental.stateless_split([1, 2], num=2.0)
    with pytest.raises(ValueError, match="num must be a positive int; received True"):
        xf.random.experimental.stateless_split([1, 2], num=True)
