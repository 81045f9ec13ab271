"""xf.random: TF's sampling ops, checked against the distributions' known moments and
TF's documented seeding rules (set_seed repeats a run; stateful ops differ call to call)."""

import jax
import numpy as np
import pytest

import xlaflow as xf

N = 20000


def test_normal_has_the_requested_moments():
    x = np.asarray(xf.random.normal([N], mean=3.0, stddev=2.0))
    assert x.dtype == np.float32 and x.shape == (N,)
    # standard errors of the mean and std at N=20000 are ~0.014 and ~0.01
    assert abs(x.mean() - 3.0) < 0.06 and abs(x.std() - 2.0) < 0.05


def test_truncated_normal_stays_within_two_stddevs():
    x = np.asarray(xf.random.truncated_normal([N], mean=1.0, stddev=0.5))
    assert x.min() >= 0.0 and x.max() <= 2.0
    # the N(0,1) truncated to [-2, 2] has std 0.8796; scaled by 0.5
    assert abs(x.std() - 0.5 * 0.8796) < 0.02


def test_uniform_floats_and_integers():
    f = np.asarray(xf.random.uniform([N], minval=-1.0, maxval=3.0))
    assert f.min() >= -1.0 and f.max() < 3.0 and abs(f.mean() - 1.0) < 0.05
    i = np.asarray(xf.random.uniform([N], minval=2, maxval=5, dtype=xf.int32))
    assert i.dtype == np.int32 and set(np.unique(i)) == {2, 3, 4}
    with pytest.raises(ValueError, match="maxval must be given"):
        xf.random.uniform([2], dtype=xf.int32)


def test_set_seed_repeats_the_sequence_and_calls_differ():
    xf.random.set_seed(7)
    first = [np.asarray(xf.random.normal([4])) for _ in range(2)]
    xf.random.set_seed(7)
    again = [np.asarray(xf.random.normal([4])) for _ in range(2)]
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])
    with pytest.raises(TypeError, match="seed must be an int; received '7'"):
        xf.random.set_seed("7")


def test_stateful_ops_draw_fresh_values_inside_function_without_retracing():
    # TF: a stateful random op inside tf.function gives new values on every call.
    @xf.function
    def sample():
        return xf.random.uniform([3])

    draws = [np.asarray(sample()) for _ in range(3)]
    assert sample.tracing_count == 1
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])


@pytest.mark.parametrize("setter", ["xf.random.set_seed", "keras.utils.set_random_seed"])
def test_set_seed_makes_layer_initialization_repeat(monkeypatch, setter):
    # also the first time in a process, before the global generator exists: making it must
    # not draw from the initializers' stream, or the first seeded model differs from later
    from xlaflow import keras
    from xlaflow import random as xf_random
    monkeypatch.setattr(xf_random, "_global_generator", [None])
    set_seed = xf.random.set_seed if setter.startswith("xf") else keras.utils.set_random_seed
    weights = []
    for _ in range(2):
        set_seed(11)
        layer = keras.layers.Dense(3)
        layer.build((None, 2))
        weights.append(np.asarray(layer.kernel))
    np.testing.assert_array_equal(weights[0], weights[1])


def test_shuffle_permutes_the_first_dimension():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.asarray(xf.random.shuffle(x))
    np.testing.assert_array_equal(np.sort(y[:, 0]), x[:, 0])
    np.testing.assert_array_equal(y[:, 1], y[:, 0] + 1)  # rows move whole


def test_categorical_frequencies_follow_the_logits():
    logits = np.log(np.array([[0.2, 0.8], [0.9, 0.1]], np.float32))
    s = np.asarray(xf.random.categorical(logits, 5000))
    assert s.shape == (2, 5000) and s.dtype == np.int32
    assert abs(s[0].mean() - 0.8) < 0.03 and abs(s[1].mean() - 0.1) < 0.03


def test_stateless_ops_depend_on_the_seed_alone():
    a = xf.random.stateless_normal([5], seed=[1, 2])
    b = jax.jit(lambda: xf.random.stateless_normal([5], seed=[1, 2]))()
    c = xf.random.stateless_normal([5], seed=[1, 3])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    u = np.asarray(xf.random.stateless_uniform([N], seed=[4, 4], minval=2.0, maxval=4.0))
    assert u.min() >= 2.0 and u.max() < 4.0 and abs(u.mean() - 3.0) < 0.03
    with pytest.raises(ValueError, match=r"shape \[2\]"):
        xf.random.stateless_normal([2], seed=3)


def test_keras_set_random_seed_also_repeats_xf_random_ops():
    # TF: keras.utils.set_random_seed(s) calls tf.random.set_seed(s) (and Python's, NumPy's)
    from xlaflow import keras
    xf.random.normal([2])  # the global generator exists before the seed is set
    keras.utils.set_random_seed(5)
    first = np.asarray(xf.random.normal([3]))
    keras.utils.set_random_seed(5)
    np.testing.assert_array_equal(np.asarray(xf.random.normal([3])), first)


def test_op_seed_sequences_follow_tf_seeding_rules(monkeypatch):
    # TF: an op seed alone (no set_seed) pairs with a default global seed, so the values
    # repeat from run to run; with set_seed, (global, op) seed pairs keep their own counter,
    # independent of other draws in between, and set_seed restarts them.
    from xlaflow import random as xf_random
    monkeypatch.setattr(xf_random, "_set_seed", [None], raising=False)
    monkeypatch.setattr(xf_random, "_op_generators", {}, raising=False)
    unseeded_run = np.asarray(xf.random.uniform([3], seed=5))
    monkeypatch.setattr(xf_random, "_op_generators", {}, raising=False)  # as a second run of the program
    np.testing.assert_array_equal(np.asarray(xf.random.uniform([3], seed=5)), unseeded_run)

    xf.random.set_seed(21)
    a1, a2 = (np.asarray(xf.random.uniform([3], seed=1)) for _ in range(2))
    assert not np.array_equal(a1, a2)  # one counter per op seed: calls still differ
    xf.random.set_seed(21)
    xf.random.normal([4])  # draws without an op seed do not shift the seeded sequence
    xf.random.uniform([3], seed=2)
    np.testing.assert_array_equal(np.asarray(xf.random.uniform([3], seed=1)), a1)
    np.testing.assert_array_equal(np.asarray(xf.random.uniform([3], seed=1)), a2)
    xf.random.set_seed(22)
    assert not np.array_equal(np.asarray(xf.random.uniform([3], seed=1)), a1)


def test_op_seeded_draws_inside_function_are_fresh_per_call_and_repeat_after_set_seed():
    @xf.function
    def sample():
        return xf.random.normal([3], seed=9)

    xf.random.set_seed(4)
    first = [np.asarray(sample()) for _ in range(2)]
    xf.random.set_seed(4)
    again = [np.asarray(sample()) for _ in range(2)]
    assert sample.tracing_count == 1
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(np.stack(first), np.stack(again))


def test_shuffle_returns_a_scalar_unchanged():
    # TF's RandomShuffle copies a scalar through; it is not read as a range to permute
    out = xf.random.shuffle(np.int32(5))
    assert out.shape == () and int(out) == 5
    np.testing.assert_array_equal(xf.random.shuffle(np.zeros((0, 2))), np.zeros((0, 2)))


def test_set_seed_takes_a_numpy_integer_as_tf():
    xf.random.set_seed(np.int64(17))
    first = np.asarray(xf.random.normal([3]))
    xf.random.set_seed(17)
    np.testing.assert_array_equal(np.asarray(xf.random.normal([3])), first)


def test_a_retrace_may_use_a_new_op_seed_and_draws_match_eager():
    # TF makes no Variable for an op seed, so a seed first seen on a retrace must work; the
    # draws are each seed's own sequence, the same as the eager calls in the same order
    @xf.function
    def sample(first):
        return xf.random.normal([2], seed=(31 if first else 32))

    xf.random.set_seed(5)
    traced = [np.asarray(sample(flag)) for flag in (True, False, False)]
    assert sample.tracing_count == 2
    xf.random.set_seed(5)
    eager = [np.asarray(xf.random.normal([2], seed=s)) for s in (31, 32, 32)]
    np.testing.assert_allclose(np.stack(traced), np.stack(eager), rtol=1e-6)
    assert not np.allclose(traced[1], traced[2])
