"""sample_from_datasets, choose_from_datasets and assert_cardinality, against counts and
orders computed in plain Python."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data import Dataset
from xlaflow.data.dataset import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY


def test_sample_from_datasets_frequencies_follow_weights():
    a = Dataset.from_tensors(np.int64(0)).repeat()
    b = Dataset.from_tensors(np.int64(1)).repeat()
    ds = Dataset.sample_from_datasets([a, b], weights=[0.2, 0.8], seed=3)
    draws = np.array([int(x) for x in ds.take(4000)])
    assert abs(draws.mean() - 0.8) < 0.03  # binomial std 0.0063: ~5 sigma
    assert int(ds.cardinality()) == INFINITE_CARDINALITY


def test_sample_from_datasets_keeps_each_input_order_and_drains_all_inputs():
    a, b = Dataset.range(0, 5), Dataset.range(100, 120)
    out = [int(x) for x in Dataset.sample_from_datasets([a, b], seed=0)]
    assert [x for x in out if x < 100] == list(range(5))
    assert [x for x in out if x >= 100] == list(range(100, 120))
    assert int(Dataset.sample_from_datasets([a, b]).cardinality()) == UNKNOWN_CARDINALITY


def test_sample_from_datasets_stop_on_empty_ends_at_first_exhausted_input():
    a, b = Dataset.range(0, 3), Dataset.range(100, 200)
    out = [int(x) for x in Dataset.sample_from_datasets([a, b], seed=1,
                                                        stop_on_empty_dataset=True)]
    assert [x for x in out if x < 100] == [0, 1, 2] and len(out) < 103


def test_sample_from_datasets_seed_and_rerandomize_each_iteration():
    def ds(**kw):
        return Dataset.sample_from_datasets([Dataset.range(50), Dataset.range(50, 100)],
                                            seed=7, **kw)
    fixed = ds()
    assert list(fixed) == list(fixed) == list(ds())
    rerandomized = ds(rerandomize_each_iteration=True)
    assert [int(x) for x in rerandomized] != [int(x) for x in rerandomized]


def test_sample_from_datasets_weights_dataset_gives_one_vector_per_draw():
    weights = Dataset.from_tensor_slices(np.array([[1.0, 0.0], [0.0, 1.0]] * 3))
    ds = Dataset.sample_from_datasets([Dataset.range(10), Dataset.range(10, 20)], weights)
    assert [int(x) for x in ds] == [0, 10, 1, 11, 2, 12]


def test_sample_from_datasets_checks_arguments_when_built():
    with pytest.raises(ValueError, match=r"weights must be 2 non-negative.*\[0.5\]"):
        Dataset.sample_from_datasets([Dataset.range(2), Dataset.range(2)], weights=[0.5])
    with pytest.raises(TypeError, match="same structure and dtypes"):
        Dataset.sample_from_datasets([Dataset.range(2),
                                      Dataset.from_tensor_slices(np.zeros(2, np.float32))])


def test_choose_from_datasets_round_robin_as_tf_docstring():
    datasets = [Dataset.from_tensors(np.array([b"foo"])).repeat(),
                Dataset.from_tensors(np.array([b"bar"])).repeat(),
                Dataset.from_tensors(np.array([b"baz"])).repeat()]
    choice_dataset = Dataset.range(3).repeat(3)
    result = [e[0] for e in Dataset.choose_from_datasets(datasets, choice_dataset)]
    assert result == [b"foo", b"bar", b"baz"] * 3


def test_choose_from_datasets_empty_input_stops_or_is_skipped():
    datasets = [Dataset.range(2), Dataset.range(10, 20)]
    choice = Dataset.from_tensor_slices(np.array([0, 1, 0, 0, 1], np.int64))
    assert [int(x) for x in Dataset.choose_from_datasets(datasets, choice)] == [0, 10, 1]
    assert [int(x) for x in Dataset.choose_from_datasets(
        datasets, choice, stop_on_empty_dataset=False)] == [0, 10, 1, 11]
    with pytest.raises(ValueError, match=r"choice_dataset gave 2, outside \[0, 2\)"):
        list(Dataset.choose_from_datasets(datasets, Dataset.range(3)))
    with pytest.raises(TypeError, match="scalar int64"):
        Dataset.choose_from_datasets(datasets, Dataset.from_tensor_slices(np.zeros(2)))


def test_assert_cardinality_reports_and_checks_the_count():
    gen = Dataset.from_generator(lambda: iter(range(5)), output_signature=xf.TensorSpec(
        (), xf.int32))
    assert int(gen.cardinality()) == UNKNOWN_CARDINALITY
    ds = gen.assert_cardinality(5)
    assert int(ds.cardinality()) == 5 and len(ds) == 5 and [int(x) for x in ds] == [0, 1, 2, 3, 4]
    with pytest.raises(xf.errors.FailedPreconditionError,
                       match="expected to contain 3 elements but contained at least 4"):
        list(gen.assert_cardinality(3))
    with pytest.raises(xf.errors.FailedPreconditionError,
                       match="expected to contain 7 elements but contained only 5 elements"):
        list(gen.apply(xf.data.experimental.assert_cardinality(7)))
