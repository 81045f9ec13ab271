"""xf.random.Generator (tf.random.Generator): a seeded stream of its own, held in a Variable.

Oracles: the same seed gives the same draws (eager and inside xf.function, bit for bit);
the distributions' known moments and bounds; a Checkpoint restores the stream's position.
"""

import jax
import numpy as np
import pytest

import xlaflow as xf

N = 20000


def test_a_seed_fixes_the_stream_and_successive_draws_differ():
    g, h = xf.random.Generator.from_seed(7), xf.random.Generator.from_seed(7)
    first, second = np.asarray(g.normal([4])), np.asarray(g.normal([4]))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.asarray(h.normal([4])), first)
    np.testing.assert_array_equal(np.asarray(h.normal([4])), second)
    other = xf.random.Generator.from_seed(8).normal([4])
    assert not np.array_equal(np.asarray(other), first)


def test_draws_inside_xf_function_advance_the_stream_without_retracing():
    g, eager = xf.random.Generator.from_seed(3), xf.random.Generator.from_seed(3)

    @xf.function
    def draw():
        return g.uniform([3]), g.normal([2])

    for _ in range(3):
        (u, n), (want_u, want_n) = draw(), (eager.uniform([3]), eager.normal([2]))
        np.testing.assert_array_equal(np.asarray(u), np.asarray(want_u))
        np.testing.assert_array_equal(np.asarray(n), np.asarray(want_n))
    assert draw.tracing_count == 1


def test_the_samples_have_the_requested_distributions():
    g = xf.random.Generator.from_seed(0)
    x = np.asarray(g.normal([N], mean=3.0, stddev=2.0))
    assert x.dtype == np.float32 and abs(x.mean() - 3.0) < 0.06 and abs(x.std() - 2.0) < 0.05
    t = np.asarray(g.truncated_normal([N], mean=1.0, stddev=0.5))
    assert t.min() >= 0.0 and t.max() <= 2.0 and abs(t.std() - 0.5 * 0.8796) < 0.02
    u = np.asarray(g.uniform([N], minval=-1.0, maxval=3.0))
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.04
    k = np.asarray(g.uniform([N], minval=2, maxval=5, dtype="int32"))
    assert k.dtype == np.int32 and set(np.unique(k)) == {2, 3, 4}
    with pytest.raises(ValueError, match="maxval must be given"):
        g.uniform([2], dtype="int32")
    with pytest.raises(ValueError, match="float dtype"):
        g.normal([2], dtype="int32")


def test_split_copy_and_reset():
    g = xf.random.Generator.from_seed(5)
    a, b = g.split(2)
    draws = [np.asarray(x.normal([3])) for x in (a, b, g)]
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[0], draws[2])
    a2, _ = xf.random.Generator.from_seed(5).split(2)
    np.testing.assert_array_equal(np.asarray(a2.normal([3])), draws[0])
    copy = xf.random.Generator(copy_from=g)
    np.testing.assert_array_equal(np.asarray(copy.normal([3])), np.asarray(g.normal([3])))
    g.reset_from_seed(5)
    np.testing.assert_array_equal(np.asarray(g.normal([1])),
                                  np.asarray(xf.random.Generator.from_seed(5).normal([1])))


def test_make_seeds_feed_the_stateless_ops():
    seeds = xf.random.Generator.from_seed(1).make_seeds(3)
    assert seeds.shape == (2, 3) and seeds.dtype == np.int32
    again = xf.random.Generator.from_seed(1).make_seeds(3)
    np.testing.assert_array_equal(np.asarray(seeds), np.asarray(again))
    one = xf.random.stateless_normal([2], seed=seeds[:, 0])
    np.testing.assert_array_equal(np.asarray(one),
                                  np.asarray(xf.random.stateless_normal([2], seed=again[:, 0])))


def test_a_checkpoint_restores_the_stream_position(tmp_path):
    g = xf.random.Generator.from_seed(11)
    g.normal([2])
    path = xf.train.Checkpoint(gen=g).save(str(tmp_path / "ckpt"))
    expected = np.asarray(g.normal([2]))
    g.normal([2])  # move on
    xf.train.Checkpoint(gen=g).restore(path)
    np.testing.assert_array_equal(np.asarray(g.normal([2])), expected)


def test_the_global_generator_is_the_stateful_ops_stream():
    xf.random.set_seed(4)
    want = np.asarray(xf.random.normal([3]))
    xf.random.set_seed(4)
    got = np.asarray(xf.random.get_global_generator().normal([3]))
    np.testing.assert_array_equal(got, want)


def test_what_is_not_provided_says_what_to_use():
    with pytest.raises(NotImplementedError, match="from_seed"):
        xf.random.Generator(state=[1, 2], alg="philox")
    with pytest.raises(NotImplementedError, match="from_seed"):
        xf.random.Generator.from_key_counter(1, [0, 0], "philox")
    with pytest.raises(TypeError, match="seed must be an int; received 'a'"):
        xf.random.Generator.from_seed("a")
    assert jax.numpy.asarray(xf.random.Generator.from_non_deterministic_state().normal([2])
                             ).shape == (2,)
