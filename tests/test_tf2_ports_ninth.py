"""The ninth round of whole TF2 programs (see test_tf2_ports.py): TF's "tf.data: Build
TensorFlow input pipelines" guide (TF 2.12), with only the imports changed.

Each asserts what the guide prints, computed independently: sums and slices in NumPy,
windows by list comprehension, the shuffle buffer's bound, sampling frequencies within a
binomial tolerance. The resampling, performance and file-caching programs are in
test_tf2_ports_ninth_b.py.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def test_basic_mechanics_iterate_and_reduce():
    dataset = tf.data.Dataset.from_tensor_slices([8, 3, 0, 8, 2, 1])
    assert [elem.numpy() if hasattr(elem, "numpy") else int(elem) for elem in dataset] == \
        [8, 3, 0, 8, 2, 1]
    it = iter(dataset)
    assert int(next(it)) == 8
    assert int(dataset.reduce(0, lambda state, value: state + value)) == 22


def test_dataset_structure_element_spec_of_zipped_tuples_and_dicts():
    dataset1 = tf.data.Dataset.from_tensor_slices(tf.random.uniform([4, 10]))
    assert dataset1.element_spec == tf.TensorSpec(shape=(10,), dtype=tf.float32)

    dataset2 = tf.data.Dataset.from_tensor_slices(
        (tf.random.uniform([4]),
         tf.random.uniform([4, 100], maxval=100, dtype=tf.int32)))
    assert dataset2.element_spec == (tf.TensorSpec(shape=(), dtype=tf.float32),
                                     tf.TensorSpec(shape=(100,), dtype=tf.int32))

    dataset3 = tf.data.Dataset.zip((dataset1, dataset2))
    assert dataset3.element_spec == (tf.TensorSpec(shape=(10,), dtype=tf.float32),
                                     (tf.TensorSpec(shape=(), dtype=tf.float32),
                                      tf.TensorSpec(shape=(100,), dtype=tf.int32)))
    first = next(iter(dataset3))
    assert first[0].shape == (10,) and first[1][1].shape == (100,)

    # A dataset containing a sparse tensor is out of scope; the dict form is the guide's next.
    dataset4 = tf.data.Dataset.from_tensor_slices(
        {"a": np.arange(4.0, dtype=np.float32), "b": np.arange(8).reshape(4, 2)})
    assert dataset4.element_spec["b"].shape == (2,)
    assert [int(e["b"][1]) for e in dataset4] == [1, 3, 5, 7]
    assert dataset4.element_spec["a"].dtype == tf.float32


def test_from_generator_count_repeat_batch_and_output_signature_padded():
    def count(stop):
        i = 0
        while i < stop:
            yield i
            i += 1

    ds_counter = tf.data.Dataset.from_generator(count, args=[25], output_types=tf.int32,
                                                output_shapes=())
    batches = [b.tolist() for b in ds_counter.repeat().batch(10).take(10)]
    flat = [i % 25 for i in range(100)]
    assert batches == [flat[i:i + 10] for i in range(0, 100, 10)]

    rng = np.random.default_rng(0)
    sizes = []

    def gen_series():
        i = 0
        while True:
            size = int(rng.integers(0, 10))
            sizes.append(size)
            yield i, rng.normal(size=(size,))
            i += 1

    ds_series = tf.data.Dataset.from_generator(
        gen_series,
        output_signature=(tf.TensorSpec(shape=(), dtype=tf.int32),
                          tf.TensorSpec(shape=(None,), dtype=tf.float32)))
    assert ds_series.element_spec[1].shape == (None,)
    ds_series_batch = ds_series.shuffle(20).padded_batch(10)
    ids, sequence_batch = next(iter(ds_series_batch))
    assert ids.shape == (10,) and sequence_batch.dtype == np.float32
    assert len(set(ids.tolist())) == 10 and max(ids.tolist()) < 30  # buffer 20 + batch 10
    lengths = [sizes[i] for i in ids.tolist()]
    assert sequence_batch.shape == (10, max(lengths))
    for row, n in zip(sequence_batch, lengths):  # each row zero-padded after its length
        assert not np.any(row[n:])


def test_simple_batching_and_drop_remainder():
    inc_dataset = tf.data.Dataset.range(100)
    dec_dataset = tf.data.Dataset.range(0, -100, -1)
    dataset = tf.data.Dataset.zip((inc_dataset, dec_dataset))
    batched_dataset = dataset.batch(4)
    got = [(a.tolist(), b.tolist()) for a, b in batched_dataset.take(4)]
    assert got == [(list(range(i, i + 4)), [-j for j in range(i, i + 4)])
                   for i in range(0, 16, 4)]
    assert batched_dataset.element_spec[0].shape == (None,)

    batched_dataset = tf.data.Dataset.range(100).batch(7, drop_remainder=True)
    assert batched_dataset.element_spec.shape == (7,)
    assert int(batched_dataset.cardinality()) == 100 // 7
    assert [b.tolist() for b in batched_dataset][-1] == list(range(91, 98))


def test_padded_batch_with_padded_shapes():
    dataset = tf.data.Dataset.range(100)
    dataset = dataset.map(lambda x: tf.fill([tf.cast(x, tf.int32)], x))
    dataset = dataset.padded_batch(4, padded_shapes=(None,))
    batches = [b.tolist() for b in dataset.take(2)]
    assert batches == [[[0, 0, 0], [1, 0, 0], [2, 2, 0], [3, 3, 3]],
                       [[4, 4, 4, 4, 0, 0, 0], [5, 5, 5, 5, 5, 0, 0],
                        [6, 6, 6, 6, 6, 6, 0], [7, 7, 7, 7, 7, 7, 7]]]

    fixed = tf.data.Dataset.range(5).map(lambda x: tf.fill([tf.cast(x, tf.int32)], x))
    fixed = fixed.padded_batch(2, padded_shapes=(6,), padding_values=-1)
    first = next(iter(fixed))
    assert first.tolist() == [[-1] * 6, [1] + [-1] * 5]
    with pytest.raises(ValueError, match="padded_shapes|larger|exceed"):
        list(tf.data.Dataset.range(9).map(lambda x: tf.fill([tf.cast(x, tf.int32)], x))
             .padded_batch(3, padded_shapes=(4,)))


def test_repeat_before_and_after_batch_and_shuffle_buffer_bound():
    lines = tf.data.Dataset.range(1000, 1628)  # titanic's 628 training rows, by index
    titanic_batches = lines.repeat(3).batch(128)
    sizes = [len(b) for b in titanic_batches]
    assert sizes == [128] * 14 + [628 * 3 - 128 * 14]  # batches straddle epoch boundaries

    titanic_batches = lines.batch(128).repeat(3)
    assert [len(b) for b in titanic_batches] == ([128] * 4 + [628 - 512]) * 3

    epochs = 3
    dataset = lines.batch(128)
    ends = []
    for epoch in range(epochs):
        for batch in dataset:
            last = batch
        ends.append(int(last[-1]))
    assert ends == [1627] * epochs

    counter = tf.data.Dataset.range(100000)  # the guide's experimental.Counter()
    dataset = tf.data.Dataset.zip((counter, lines))
    dataset = dataset.shuffle(buffer_size=100)
    dataset = dataset.batch(20)
    n, _line_batch = next(iter(dataset))
    assert n.max() < 120  # buffer of 100, batch of 20: no index reaches 120
    shuffled = [n.numpy() if hasattr(n, "numpy") else n for n, _line in dataset]
    indices = np.concatenate(shuffled)
    assert sorted(indices.tolist()) == list(range(628))
    assert indices.tolist() != list(range(628))

    # repeat-then-shuffle mixes epochs; shuffle-then-repeat shows every row each epoch first
    shuffled = [int(i) for i, _ in tf.data.Dataset.zip((counter, lines))
                .shuffle(buffer_size=100).repeat(2)]
    assert sorted(shuffled[:628]) == list(range(628)) and shuffled[:628] != shuffled[628:]
    mixed = [int(i) for i, _ in tf.data.Dataset.zip((counter, lines))
             .repeat(2).shuffle(buffer_size=100)]
    assert sorted(mixed) == sorted(list(range(628)) * 2)


def test_shuffle_seed_and_reshuffle_each_iteration():
    ds = tf.data.Dataset.range(20).shuffle(20, seed=42, reshuffle_each_iteration=False)
    assert [int(x) for x in ds] == [int(x) for x in ds]
    same_seed = tf.data.Dataset.range(20).shuffle(20, seed=42, reshuffle_each_iteration=False)
    assert [int(x) for x in ds] == [int(x) for x in same_seed]
    ds = tf.data.Dataset.range(20).shuffle(20, seed=42, reshuffle_each_iteration=True)
    first, second = [int(x) for x in ds], [int(x) for x in ds]
    assert first != second and sorted(first) == sorted(second) == list(range(20))


def test_time_series_batches_dense_steps_and_zip_skip():
    range_ds = tf.data.Dataset.range(100000)
    batches = range_ds.batch(10, drop_remainder=True)
    assert [b.tolist() for b in batches.take(2)] == [list(range(10)), list(range(10, 20))]

    def dense_1_step(batch):
        # Shift features and labels one step relative to each other.
        return batch[:-1], batch[1:]

    predict_dense_1_step = batches.map(dense_1_step)
    features, label = next(iter(predict_dense_1_step))
    assert features.tolist() == list(range(9)) and label.tolist() == list(range(1, 10))

    batches = range_ds.batch(15, drop_remainder=True)

    def label_next_5_steps(batch):
        return (batch[:-5],   # Inputs: All except the last 5 steps
                batch[-5:])   # Labels: The last 5 steps

    predict_5_steps = batches.map(label_next_5_steps)
    features, label = next(iter(predict_5_steps.skip(2).take(1)))
    assert features.tolist() == list(range(30, 40)) and label.tolist() == list(range(40, 45))

    feature_length = 10
    label_length = 3
    features = range_ds.batch(feature_length, drop_remainder=True)
    labels = range_ds.batch(feature_length).skip(1).map(lambda labels: labels[:label_length])
    predicted_steps = tf.data.Dataset.zip((features, labels))
    got = [(f.tolist(), lab.tolist()) for f, lab in predicted_steps.take(3)]
    assert got == [(list(range(k, k + 10)), list(range(k + 10, k + 13)))
                   for k in (0, 10, 20)]


def test_window_flat_map_and_make_window_dataset():
    range_ds = tf.data.Dataset.range(100000)
    window_size = 5
    windows = range_ds.window(window_size, shift=1)
    for sub_ds in windows.take(5):
        assert isinstance(sub_ds, tf.data.Dataset)
    flat = [int(x) for x in windows.flat_map(lambda x: x).take(30)]
    assert flat == [k + j for k in range(6) for j in range(5)]

    def sub_to_batch(sub):
        return sub.batch(window_size, drop_remainder=True)

    got = [e.tolist() for e in windows.flat_map(sub_to_batch).take(5)]
    assert got == [list(range(k, k + 5)) for k in range(5)]

    def make_window_dataset(ds, window_size=5, shift=1, stride=1):
        windows = ds.window(window_size, shift=shift, stride=stride)

        def sub_to_batch(sub):
            return sub.batch(window_size, drop_remainder=True)

        windows = windows.flat_map(sub_to_batch)
        return windows

    ds = make_window_dataset(range_ds, window_size=10, shift=5, stride=3)
    got = [e.tolist() for e in ds.take(10)]
    assert got == [list(range(5 * k, 5 * k + 28, 3)) for k in range(10)]

    def dense_1_step(batch):
        return batch[:-1], batch[1:]

    dense_labels_ds = ds.map(dense_1_step)
    inputs, labels = next(iter(dense_labels_ds))
    assert inputs.tolist() == list(range(0, 27, 3)) and labels.tolist() == list(range(3, 30, 3))


def test_enumerate_concatenate_skip_take_unbatch_rebatch_and_scan():
    ds = tf.data.Dataset.from_tensor_slices([10, 20, 30]).enumerate(start=5)
    assert [(int(i), int(v)) for i, v in ds] == [(5, 10), (6, 20), (7, 30)]

    a = tf.data.Dataset.range(3)
    b = tf.data.Dataset.range(10, 13)
    assert [int(x) for x in a.concatenate(b).skip(1).take(4)] == [1, 2, 10, 11]

    batched = tf.data.Dataset.range(10).batch(4)
    assert [int(x) for x in batched.unbatch()] == list(range(10))
    assert [b.tolist() for b in batched.rebatch(3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]

    # The guide's tf.constant(0, dtype=tf.int64): JAX without x64 has no int64 tensor (it
    # warns and truncates), so the state is NumPy's int64, which datasets carry.
    initial_state = np.int64(0)
    scan_func = lambda state, i: (state + i, state + i)
    dataset = tf.data.Dataset.range(10).apply(tf.data.experimental.scan(initial_state, scan_func))
    assert [int(x) for x in dataset] == np.cumsum(np.arange(10)).tolist()
    assert [int(x) for x in tf.data.Dataset.range(10).scan(initial_state, scan_func)] == \
        np.cumsum(np.arange(10)).tolist()


def test_group_by_window_and_bucket_by_sequence_length():
    dataset = tf.data.Dataset.range(10)
    windows = dataset.group_by_window(key_func=lambda x: x % 2,
                                      reduce_func=lambda key, ds: ds.batch(3),
                                      window_size=3)
    assert [w.tolist() for w in windows] == [[0, 2, 4], [1, 3, 5], [6, 8], [7, 9]]

    elements = [[0], [1, 2, 3, 4], [5, 6, 7], [7, 8, 9, 10, 11], [13, 14, 15, 16, 19, 20],
                [21, 22]]
    dataset = tf.data.Dataset.from_generator(lambda: elements, tf.int64,
                                             output_shapes=[None])
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=lambda elem: tf.shape(elem)[0],
        bucket_boundaries=[3, 5],
        bucket_batch_sizes=[2, 2, 2])
    got = [b.tolist() for b in dataset]
    assert got == [[[1, 2, 3, 4], [5, 6, 7, 0]],
                   [[7, 8, 9, 10, 11, 0], [13, 14, 15, 16, 19, 20]],
                   [[0, 0], [21, 22]]]
