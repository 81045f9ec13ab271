"""Dataset elements have TF's `.numpy()`: NumPy arrays viewed as HostTensor, dtypes kept."""

import numpy as np

import xlaflow as xf
from xlaflow.data import Dataset
from xlaflow.data.host_tensor import HostTensor


def test_elements_have_numpy_and_keep_numpys_dtypes_and_values():
    images = np.random.default_rng(0).random((5, 2, 3))  # float64 stays float64, as in TF
    ids = np.array([2**40, 1, 2, 3, 4])  # int64 past 32 bits, kept exactly
    names = np.array([b"a", b"b", b"c", b"d", b"e"])
    ds = Dataset.from_tensor_slices(({"image": images, "name": names}, ids)).batch(2)
    for k, (features, batch_ids) in enumerate(ds):
        rows = slice(2 * k, 2 * k + 2)
        assert isinstance(batch_ids, HostTensor) and batch_ids.dtype == np.int64
        np.testing.assert_array_equal(batch_ids.numpy(), ids[rows])
        assert features["image"].numpy().dtype == np.float64
        np.testing.assert_array_equal(features["image"].numpy(), images[rows])
        assert features["name"].numpy().tolist() == names[rows].tolist()
        assert type(features["image"].numpy()) is np.ndarray
    first = next(iter(Dataset.from_tensor_slices(images)))
    copy = first.numpy()
    copy[0, 0] = -1.0  # a writable copy: the dataset's values are untouched
    assert images[0, 0, 0] != -1.0 and first[0, 0] == images[0, 0, 0]


def test_operations_on_elements_keep_numpy_and_scalars_give_numpy_scalars():
    ds = Dataset.range(1, 4)
    assert [type(x.numpy()) for x in ds] == [np.int64] * 3
    doubled = [(x * 2).numpy() for x in ds]
    assert doubled == [2, 4, 6]
    assert ds.reduce(0, lambda total, x: total + x).numpy() == 6
    assert Dataset.from_tensors(np.float32(1.5)).get_single_element().numpy() == 1.5
    assert repr(next(iter(ds))) == "array(1)"
    assert [type(x) for x in ds.as_numpy_iterator()] == [np.int64] * 3


def test_a_compiled_step_takes_elements_as_it_takes_numpy():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    ds = Dataset.from_tensor_slices(x).batch(2)

    @xf.function
    def step(batch):
        return xf.reduce_sum(batch * 2.0, axis=1)

    outs = [step(batch) for batch in ds]
    np.testing.assert_allclose(np.concatenate(outs), (x * 2).sum(1))
    assert step.experimental_get_tracing_count() == 1


def test_indexing_or_iterating_a_batch_gives_elements_with_numpy():
    # TF's `labels[i].numpy()` and `for label in labels: label.numpy()` on a batch
    labels = next(iter(Dataset.from_tensor_slices(np.array([3, 1, 2])).batch(3)))
    assert labels[1].numpy() == 1 and type(labels[1].numpy()) is np.int64
    assert [label.numpy() for label in labels] == [3, 1, 2]
    names = ["a", "b", "c", "d"]
    assert [names[labels[i]] for i in range(3)] == ["d", "b", "c"]  # __index__, as TF
    images = next(iter(Dataset.from_tensor_slices(np.full((2, 2, 2), 7.5)).batch(2)))
    assert images[0, 1, 1].numpy() == 7.5 and images[1][0].numpy().tolist() == [7.5, 7.5]
    assert f"{labels[0]:.1f}|{labels}|{images[0, 0, 0]}" == "3.0|[3 1 2]|7.5"
    assert repr(labels) == "array([3, 1, 2])" and labels.tolist() == [3, 1, 2]


def test_string_elements_numpy_gives_bytes_as_tf():
    words = ["ab", "é", "c"]
    ds = Dataset.from_tensor_slices(words)
    first = next(iter(ds)).numpy()
    assert type(first) is bytes and first == b"ab"  # TF: a scalar string's numpy() is bytes
    assert [w.numpy().decode("utf-8") for w in ds] == words
    batch = next(iter(ds.batch(3))).numpy()  # TF: an object array of bytes
    assert batch.dtype == object and batch.tolist() == [w.encode() for w in words]
    raw = next(iter(Dataset.from_tensor_slices(np.array([b"x\xff"])))).numpy()
    assert type(raw) is bytes and raw == b"x\xff"  # bytes stay the bytes given


def test_reduce_gives_tensors_even_when_no_element_meets_the_state():
    ds = Dataset.range(5)
    count = ds.reduce(0, lambda state, _: state + 1)  # the TF guide's element count
    assert count.numpy() == 5 and count.dtype == np.int32  # a Python int is TF's int32
    assert ds.reduce(np.int64(0), lambda state, _: state + 1).numpy() == 5
    assert ds.take(0).reduce(0.0, lambda s, x: s + x).numpy() == 0.0
    total, n = ds.reduce((np.int64(0), 0), lambda s, x: (s[0] + x, s[1] + 1))
    assert (total.numpy(), n.numpy()) == (10, 5)


def test_sources_built_from_elements_hold_plain_numpy():
    # map functions and as_numpy_iterator see plain NumPy, whatever the source was given
    batch = next(iter(Dataset.from_tensor_slices(np.arange(12.0).reshape(2, 3, 2)).batch(2)))
    assert type(batch) is HostTensor
    plain = batch.view(np.ndarray)
    cases = [(Dataset.from_tensor_slices(batch), list(plain)),
             (Dataset.from_tensors(batch), [plain]),
             (Dataset.from_tensor_slices({"a": batch}).map(lambda e: e["a"]), list(plain)),
             (Dataset.from_tensors(batch).unbatch().cache().prefetch(1), list(plain))]
    for ds, expected in cases:
        kinds = ds.map(lambda v: type(v).__name__).as_numpy_iterator()
        assert set(kinds) == {b"ndarray"}  # text comes out as bytes, as TF's
        got = list(ds.as_numpy_iterator())
        assert [type(v) for v in got] == [np.ndarray] * len(expected)
        np.testing.assert_array_equal(np.stack(got), np.stack(expected))
    state = next(iter(Dataset.range(3, 4)))
    scanned = Dataset.range(3).scan(state, lambda s, x: (s + x, type(s).__name__))
    assert set(scanned.as_numpy_iterator()) == {b"int64"}


def test_experimental_get_single_element():
    value = xf.data.experimental.get_single_element(Dataset.from_tensors(np.arange(3)))
    np.testing.assert_array_equal(value.numpy(), np.arange(3))
