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
