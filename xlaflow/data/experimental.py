"""xf.data.experimental: TF's tf.data.experimental names for the option types and enums,
its CSV readers, its TFRecordWriter of a dataset, its `apply`-style forms of
group_by_window, bucket_by_sequence_length, ignore_errors, scan and assert_cardinality,
get_single_element, Counter and sample/choose_from_datasets. Re-exports, and one-line wrappers calling the Dataset methods."""

from xlaflow.data.csv import CsvDataset, make_csv_dataset
from xlaflow.data.dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.options import (
    AutoShardPolicy,
    AutotuneAlgorithm,
    AutotuneOptions,
    DistributeOptions,
    ExternalStatePolicy,
    OptimizationOptions,
    ThreadingOptions,
)
from xlaflow.data.tfrecord import TFRecordWriter

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "AutoShardPolicy",
           "AutotuneAlgorithm", "AutotuneOptions", "Counter", "CsvDataset",
           "DistributeOptions", "ExternalStatePolicy", "OptimizationOptions",
           "TFRecordWriter", "ThreadingOptions", "assert_cardinality",
           "bucket_by_sequence_length", "cardinality", "choose_from_datasets", "get_single_element", "group_by_window",
           "ignore_errors", "make_csv_dataset", "sample_from_datasets", "scan"]


def group_by_window(key_func, reduce_func, window_size=None, window_size_func=None):
    """For `dataset.apply(...)`: `Dataset.group_by_window` with these arguments."""
    return lambda dataset: dataset.group_by_window(key_func, reduce_func, window_size,
                                                   window_size_func)


def bucket_by_sequence_length(element_length_func, bucket_boundaries, bucket_batch_sizes,
                              padded_shapes=None, padding_values=None,
                              pad_to_bucket_boundary=False, no_padding=False,
                              drop_remainder=False):
    """For `dataset.apply(...)`: `Dataset.bucket_by_sequence_length` with these arguments."""
    return lambda dataset: dataset.bucket_by_sequence_length(
        element_length_func, bucket_boundaries, bucket_batch_sizes, padded_shapes,
        padding_values, pad_to_bucket_boundary, no_padding, drop_remainder)


def ignore_errors(log_warning=False):
    """For `dataset.apply(...)`: `Dataset.ignore_errors(log_warning)`."""
    return lambda dataset: dataset.ignore_errors(log_warning)


def cardinality(dataset):
    """TF's tf.data.experimental.cardinality: `dataset.cardinality()` (a count, or
    INFINITE_CARDINALITY / UNKNOWN_CARDINALITY)."""
    return dataset.cardinality()


def Counter(start=0, step=1, dtype="int64"):  # TF spells this function like a class
    """TF's tf.data.experimental.Counter: `Dataset.counter(start, step, dtype)`."""
    return Dataset.counter(start, step, dtype)


def get_single_element(dataset):
    """TF's tf.data.experimental.get_single_element: `dataset.get_single_element()`."""
    return dataset.get_single_element()


def scan(initial_state, scan_func):
    """For `dataset.apply(...)`: `Dataset.scan(initial_state, scan_func)`."""
    return lambda dataset: dataset.scan(initial_state, scan_func)


def assert_cardinality(expected_cardinality):
    """For `dataset.apply(...)`: `Dataset.assert_cardinality(expected_cardinality)`."""
    return lambda dataset: dataset.assert_cardinality(expected_cardinality)


sample_from_datasets = Dataset.sample_from_datasets
choose_from_datasets = Dataset.choose_from_datasets
