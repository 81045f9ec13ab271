"""xf.random's candidate samplers against TF's closed forms: the log-uniform law
P(k) = log((k + 2) / (k + 1)) / log(range_max + 1), sample frequencies within a few
standard errors, and TF's expected counts (p * num_sampled, or 1 - (1 - p)^num_tries)."""

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import random_candidates


def _log_uniform(range_max):
    k = np.arange(range_max, dtype=np.float64)
    return (np.log(k + 2) - np.log(k + 1)) / np.log(range_max + 1)


def test_log_uniform_law_sums_to_one_and_favours_small_ids():
    p = _log_uniform(50)
    assert abs(p.sum() - 1.0) < 1e-12  # the telescoping sum log(51) / log(51)
    assert np.all(np.diff(p) < 0)


def test_with_replacement_frequencies_and_expected_counts():
    xf.random.set_seed(0)
    n, range_max = 20000, 10
    true_classes = xf.constant([[0, 3], [9, 1]])
    sampled, true_expected, sampled_expected = xf.random.log_uniform_candidate_sampler(
        true_classes, num_true=2, num_sampled=n, unique=False, range_max=range_max)
    sampled = np.asarray(sampled)
    assert sampled.shape == (n,) and sampled.min() >= 0 and sampled.max() < range_max
    p = _log_uniform(range_max)
    freq = np.bincount(sampled, minlength=range_max) / n
    # 5 standard errors of a frequency, sqrt(p (1 - p) / n)
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / n))
    # without unique every draw is kept: TF's expected count is p * num_sampled
    np.testing.assert_allclose(np.asarray(true_expected), p[[[0, 3], [9, 1]]] * n, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(sampled_expected), p[sampled] * n, rtol=1e-5)
    assert np.asarray(true_expected).dtype == np.float32


def test_unique_draws_distinct_classes_with_tfs_expected_count():
    xf.random.set_seed(1)
    range_max, num_sampled = 6, 4
    p = _log_uniform(range_max)
    saw_repeats = False
    for _ in range(10):
        sampled, true_expected, sampled_expected = xf.random.log_uniform_candidate_sampler(
            xf.constant([[2]]), 1, num_sampled, True, range_max, seed=7)
        sampled = np.asarray(sampled)
        assert len(set(sampled.tolist())) == num_sampled
        assert sampled.min() >= 0 and sampled.max() < range_max
        got = np.concatenate([np.asarray(true_expected).ravel(), np.asarray(sampled_expected)])
        probs = np.concatenate([[p[2]], p[sampled]])
        # TF's count depends on num_tries, the draws it took: find the one that explains all
        # (p * num_sampled when no draw was a repeat, else 1 - (1 - p)^num_tries)
        fits = [t for t in range(num_sampled, 500) if np.allclose(
            got, probs * num_sampled if t == num_sampled else 1 - (1 - probs) ** t,
            rtol=1e-4)]
        assert fits, got
        saw_repeats |= fits[0] > num_sampled
    assert saw_repeats  # 4 of 6 Zipf classes: repeats are the rule (P(none) < 0.2 per call)


def test_unique_first_candidate_follows_the_law():
    # the first draw is never a repeat, so the first candidate has the law P(k)
    keys = jax.random.split(jax.random.PRNGKey(0), 8000)
    range_max = 5
    first = jax.vmap(lambda k: random_candidates._sample(
        k, np.zeros((1, 1), np.int32), 3, range_max, True, "log_uniform")[0][0])(keys)
    p = _log_uniform(range_max)
    freq = np.bincount(np.asarray(first), minlength=range_max) / len(keys)
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / len(keys)))


def test_unique_with_num_sampled_equal_to_range_max_is_a_permutation():
    sampled, _, sampled_expected = xf.random.log_uniform_candidate_sampler(
        xf.constant([[0]]), 1, 5, True, 5, seed=3)
    assert sorted(np.asarray(sampled).tolist()) == [0, 1, 2, 3, 4]
    assert np.all(np.asarray(sampled_expected) <= 1.0)


def test_uniform_candidate_sampler():
    xf.random.set_seed(2)
    n, range_max = 20000, 8
    sampled, true_expected, _ = xf.random.uniform_candidate_sampler(
        xf.constant([[1]]), 1, n, False, range_max)
    freq = np.bincount(np.asarray(sampled), minlength=range_max) / n
    p = 1 / range_max
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n))
    np.testing.assert_allclose(np.asarray(true_expected), [[n / range_max]], rtol=1e-5)


def test_op_seed_repeats_after_set_seed_and_continues_between_calls():
    def draws():
        xf.random.set_seed(5)
        return [np.asarray(xf.random.log_uniform_candidate_sampler(
            xf.constant([[1]]), 1, 6, True, 1000, seed=42)[0]) for _ in range(3)]

    first, second = draws(), draws()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)  # TF: set_seed + op seed repeat a program
    # TF's stateful op: calls with one seed continue a stream rather than repeat
    assert not np.array_equal(first[0], first[1]) or not np.array_equal(first[1], first[2])


def test_inside_function_draws_fresh_candidates_each_call():
    xf.random.set_seed(0)

    @xf.function
    def sample(true_classes):
        return xf.random.log_uniform_candidate_sampler(true_classes, 1, 8, True, 10000)[0]

    runs = [np.asarray(sample(xf.constant([[4]]))) for _ in range(3)]
    assert all(len(set(r.tolist())) == 8 for r in runs)
    assert not np.array_equal(runs[0], runs[1]) or not np.array_equal(runs[1], runs[2])


def test_bad_arguments_are_named():
    sampler = xf.random.log_uniform_candidate_sampler
    with pytest.raises(xf.errors.InvalidArgumentError, match=r"num_sampled \(6\).*range_max"):
        sampler(xf.constant([[0]]), 1, 6, True, 5)
    with pytest.raises(ValueError, match=r"true_classes must be a \[batch_size, num_true=2\]"):
        sampler(xf.constant([[0]]), 2, 1, True, 5)
    with pytest.raises(ValueError, match="true_classes must be an integer tensor"):
        sampler(xf.constant([[0.0]]), 1, 1, True, 5)
    with pytest.raises(ValueError, match="range_max must be a positive int; received 0"):
        sampler(xf.constant([[0]]), 1, 1, False, 0)
    with pytest.raises(ValueError, match="num_sampled must be a positive int"):
        sampler(xf.constant([[0]]), 1, True, False, 5)
