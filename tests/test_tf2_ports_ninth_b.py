"""The ninth round, continued (see test_tf2_ports_ninth.py): the tf.data guide's caching
programs and TF's "Better performance with the tf.data API" guide (its resampling section
is ported as written, with .numpy(), in test_tf2_ports_sixteenth.py).

The guide's sleeps are shortened (the programs' results do not depend on them); outcomes
are checked against class counts in NumPy, binomial tolerances, and the elements in order.
"""

import os
import time

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def test_choose_from_datasets_and_assert_cardinality():
    datasets = [tf.data.Dataset.from_tensors("foo").repeat(),
                tf.data.Dataset.from_tensors("bar").repeat(),
                tf.data.Dataset.from_tensors("baz").repeat()]
    # Define a dataset containing `[0, 1, 2, 0, 1, 2, 0, 1, 2]`.
    choice_dataset = tf.data.Dataset.range(3).repeat(3)
    result = tf.data.Dataset.choose_from_datasets(datasets, choice_dataset)
    assert [str(x) for x in result] == ["foo", "bar", "baz"] * 3

    dataset = tf.data.Dataset.range(42)
    dataset = dataset.filter(lambda x: x % 2 == 0)
    assert dataset.cardinality().numpy() == tf.data.UNKNOWN_CARDINALITY
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(21))
    assert dataset.cardinality().numpy() == 21
    assert tf.data.experimental.cardinality(dataset) == 21
    wrong = tf.data.Dataset.range(42).filter(lambda x: x % 3 == 0).assert_cardinality(21)
    with pytest.raises(tf.errors.FailedPreconditionError, match="contained only 14 elements"):
        list(wrong)


class ArtificialDataset(tf.data.Dataset):
    def _generator(num_samples):
        # Opening the file
        time.sleep(0.003)

        for sample_idx in range(num_samples):
            # Reading data (line, record) from the file
            time.sleep(0.0015)

            yield (sample_idx,)

    def __new__(cls, num_samples=3):
        return tf.data.Dataset.from_generator(
            cls._generator,
            output_signature=tf.TensorSpec(shape=(1,), dtype=tf.int64),
            args=(num_samples,)
        )


def benchmark(dataset, num_epochs=2):
    seen = []
    for epoch_num in range(num_epochs):
        for sample in dataset:
            # Performing a training step
            time.sleep(0.001)
            seen.append(sample)
    return seen


def _ints(seen):
    return [np.asarray(s).reshape(-1).tolist() for s in seen]


def test_performance_guide_prefetch_interleave_map_and_cache():
    assert _ints(benchmark(ArtificialDataset())) == [[0], [1], [2]] * 2
    assert _ints(benchmark(ArtificialDataset().prefetch(tf.data.AUTOTUNE))) == \
        [[0], [1], [2]] * 2

    # Sequential interleave: two files read alternately, one element at a time.
    sequential = tf.data.Dataset.range(2).interleave(lambda _: ArtificialDataset())
    assert _ints(benchmark(sequential)) == [[0], [0], [1], [1], [2], [2]] * 2
    parallel = tf.data.Dataset.range(2).interleave(
        lambda _: ArtificialDataset(), num_parallel_calls=tf.data.AUTOTUNE)
    assert _ints(benchmark(parallel)) == [[0], [0], [1], [1], [2], [2]] * 2

    def mapped_function(s):
        # Do some hard pre-processing
        tf.py_function(lambda: time.sleep(0.001), [], ())
        return s

    assert _ints(benchmark(ArtificialDataset().map(mapped_function))) == [[0], [1], [2]] * 2
    assert _ints(benchmark(ArtificialDataset().map(
        mapped_function, num_parallel_calls=tf.data.AUTOTUNE))) == [[0], [1], [2]] * 2

    calls = []

    def counted(s):
        calls.append(1)
        return mapped_function(s)

    cached = tf.data.Dataset.range(5).map(counted).cache()
    assert _ints(benchmark(cached, 5)) == [[i] for i in range(5)] * 5
    assert len(calls) == 5  # the map ran during the first epoch only


def test_performance_guide_vectorized_map_matches_scalar_map():
    fast_dataset = tf.data.Dataset.range(10000)

    def increment(x):
        return x + 1

    scalar = np.array([int(x) for x in fast_dataset.map(increment).take(1000)])
    vectorized = np.concatenate(list(fast_dataset.batch(256).map(increment).take(4)))
    assert np.array_equal(scalar, np.arange(1, 1001))
    assert np.array_equal(vectorized, np.arange(1, 1025))


def test_cache_to_a_file_then_a_fresh_pipeline_reads_it(tmp_path):
    opened = []

    def read_records():
        opened.append(1)  # the guide's expensive file read: counted per pass
        yield from range(6)

    def parse(x):
        return tf.cast(x, tf.float32) * 2.0, x

    def source():
        return tf.data.Dataset.from_generator(
            read_records, output_signature=tf.TensorSpec(shape=(), dtype=tf.int64))

    filename = str(tmp_path / "pipeline_cache")
    dataset = source().cache(filename).map(parse).shuffle(6, seed=1)
    first = sorted((float(a), int(b)) for a, b in dataset)
    assert first == [(2.0 * i, i) for i in range(6)]
    assert sorted((float(a), int(b)) for a, b in dataset) == first
    passes = len(opened)  # map's element_spec may peek; every later pass reads the file
    again = source().cache(filename).map(parse).prefetch(tf.data.AUTOTUNE)
    assert [(float(a), int(b)) for a, b in again] == [(2.0 * i, i) for i in range(6)]
    assert [(float(a), int(b)) for a, b in again] == [(2.0 * i, i) for i in range(6)]
    assert len(opened) == passes and passes <= 2

    with pytest.raises(NotImplementedError, match="cache\\(filename\\)"):
        dataset.save(str(tmp_path / "saved"))
    with pytest.raises(NotImplementedError, match="cache\\(filename\\)"):
        tf.data.Dataset.load(str(tmp_path / "saved"))


def test_options_element_spec_and_cardinality_through_a_pipeline():
    options = tf.data.Options()
    options.deterministic = False
    options.experimental_optimization.map_parallelization = True
    dataset = (tf.data.Dataset.from_tensor_slices(
        {"image": np.zeros((10, 4, 4), np.float32), "label": np.arange(10)})
        .map(lambda d: (d["image"] + 1.0, d["label"]), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(4, drop_remainder=True)
        .with_options(options)
        .prefetch(1))
    assert dataset.options().deterministic is False
    assert dataset.options().experimental_optimization.map_parallelization is True
    assert dataset.element_spec == (tf.TensorSpec(shape=(4, 4, 4), dtype=tf.float32),
                                    tf.TensorSpec(shape=(4,), dtype=tf.int64))
    assert int(dataset.cardinality()) == 2
    labels = sorted(int(v) for _, label in dataset for v in label)
    assert labels == list(range(8))
    assert int(dataset.repeat().cardinality()) == tf.data.INFINITE_CARDINALITY
