"""keras.utils.timeseries_dataset_from_array against the examples in Keras 2's docstring and
a NumPy loop over the same start positions."""

import numpy as np
import pytest

from xlaflow import keras


def test_sampled_strided_windows_as_the_keras_docstring_lists():
    data = np.arange(99)
    ds = keras.utils.timeseries_dataset_from_array(
        data, None, sequence_length=10, sampling_rate=2, sequence_stride=3, batch_size=8)
    windows = np.concatenate([np.asarray(b) for b in ds])
    assert windows[0].tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert windows[1].tolist() == [3, 5, 7, 9, 11, 13, 15, 17, 19, 21]
    assert windows[2].tolist() == [6, 8, 10, 12, 14, 16, 18, 20, 22, 24]
    assert windows[-1].tolist() == [78, 80, 82, 84, 86, 88, 90, 92, 94, 96]
    assert len(windows) == 27 and int(ds.cardinality()) == 4  # 27 windows, batches of 8


def test_targets_pair_each_window_with_the_target_at_its_start():
    data = np.arange(100)
    x = data[:-10]
    y = data[10:]
    ds = keras.preprocessing.timeseries_dataset_from_array(x, y, sequence_length=10)
    inputs, targets = next(iter(ds))
    np.testing.assert_array_equal(inputs[0], data[:10])
    assert int(targets[0]) == data[10]
    assert inputs.shape == (81, 10)  # every start 0..80 in one batch of 128
    expected = np.stack([x[i:i + 10] for i in range(81)])
    np.testing.assert_array_equal(inputs, expected)
    np.testing.assert_array_equal(targets, y[:81])


def test_start_and_end_index_and_multivariate_steps():
    data = np.arange(60, dtype=np.float32).reshape(30, 2)
    ds = keras.utils.timeseries_dataset_from_array(
        data, np.arange(30), sequence_length=3, batch_size=None, start_index=5, end_index=20)
    pairs = [(np.asarray(w), int(t)) for w, t in ds]
    assert len(pairs) == 13  # starts 5..17: the last window ends at step 19
    for i, (window, target) in enumerate(pairs):
        np.testing.assert_array_equal(window, data[5 + i:8 + i])
        assert target == 5 + i


def test_shuffle_keeps_each_window_with_its_target():
    data = np.arange(50)
    ds = keras.utils.timeseries_dataset_from_array(
        data, data * 10, sequence_length=4, batch_size=5, shuffle=True, seed=3)
    batches = list(ds)  # one pass: each epoch shuffles anew, as Keras'
    inputs = np.concatenate([np.asarray(x) for x, _ in batches])
    targets = np.concatenate([np.asarray(t) for _, t in batches])
    assert sorted(inputs[:, 0].tolist()) == list(range(47))
    assert inputs[:, 0].tolist() != list(range(47))
    np.testing.assert_array_equal(targets, inputs[:, 0] * 10)
    np.testing.assert_array_equal(inputs, inputs[:, :1] + np.arange(4))


@pytest.mark.parametrize("kwargs, match", [
    ({"sequence_length": 0}, "sequence_length"),
    ({"sequence_length": 3, "sampling_rate": 0}, "sampling_rate"),
    ({"sequence_length": 3, "sequence_stride": 1.5}, "sequence_stride"),
    ({"sequence_length": 3, "start_index": 10}, "start_index"),
    ({"sequence_length": 3, "end_index": 0}, "end_index"),
])
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras.utils.timeseries_dataset_from_array(np.arange(10), None, **kwargs)


def test_targets_of_another_length_are_refused():
    with pytest.raises(ValueError, match="len\\(data\\)=10, len\\(targets\\)=9"):
        keras.utils.timeseries_dataset_from_array(np.arange(10), np.arange(9), 3)
