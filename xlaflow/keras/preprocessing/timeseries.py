"""keras.utils.timeseries_dataset_from_array (Keras 2): sliding windows over an array as a
batched xf.data.Dataset, each window cut on the host when it is read (no copy of them all).
"""

from __future__ import annotations

import numbers

import numpy as np


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"timeseries_dataset_from_array: `{name}` must be a positive "
                         f"integer, received {name}={value!r}")
    return int(value)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None):
    """Windows `data[i : i + sequence_length * sampling_rate : sampling_rate]` for start
    positions i = start_index, start_index + sequence_stride, ...; with `targets`, each
    window is paired with `targets[i]` (Keras' convention: shift targets to forecast).

    Returns a Dataset of batches (`batch_size=None`: single windows). `shuffle` shuffles
    the window order with `seed` (and, batched, locally again each epoch, as Keras).
    """
    from xlaflow import data as xf_data

    data = np.asarray(data)
    sequence_length = _positive_int("sequence_length", sequence_length)
    sequence_stride = _positive_int("sequence_stride", sequence_stride)
    sampling_rate = _positive_int("sampling_rate", sampling_rate)
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
    if data.ndim == 0:
        raise ValueError("timeseries_dataset_from_array: `data` must have a time axis "
                         f"(axis 0), received a scalar {data!r}")
    if targets is not None:
        targets = np.asarray(targets)
        if len(targets) != len(data):
            raise ValueError(
                "timeseries_dataset_from_array: expected `data` and `targets` to have the "
                f"same number of time steps (axis 0), received len(data)={len(data)}, "
                f"len(targets)={len(targets)}")
    start = 0 if start_index is None else start_index
    end = len(data) if end_index is None else end_index
    if isinstance(start, bool) or not isinstance(start, numbers.Integral) or \
            not 0 <= start < len(data):
        raise ValueError("timeseries_dataset_from_array: `start_index` must be an integer "
                         f"in [0, {len(data)}), received start_index={start_index!r}")
    if isinstance(end, bool) or not isinstance(end, numbers.Integral) or \
            not start < end <= len(data):
        raise ValueError(f"timeseries_dataset_from_array: `end_index` must be an integer "
                         f"in ({start}, {len(data)}], received end_index={end_index!r}")
    span = (sequence_length - 1) * sampling_rate + 1
    num_seqs = end - start - span + 1
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    positions = np.arange(0, max(num_seqs, 0), sequence_stride, dtype=np.int64)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1_000_000)
        np.random.RandomState(seed).shuffle(positions)

    steps, first = data[start:end], start

    def window(position):
        p = int(position)
        return steps[p:p + span:sampling_rate]

    dataset = xf_data.Dataset.from_tensor_slices(positions)
    if targets is None:
        dataset = dataset.map(window)
    else:
        dataset = dataset.map(lambda p: (window(p), targets[first + int(p)]))
    if batch_size is None:
        return dataset.shuffle(1024, seed=seed) if shuffle else dataset
    if shuffle:
        dataset = dataset.shuffle(batch_size * 8, seed=seed)
    return dataset.batch(batch_size)
