"""xf.data sources (from_tensor_slices, from_tensors, range, from_generator): elements
against the given values, specs, and the errors that name what is wrong."""


import jax
import numpy as np
import pytest

import xlaflow as xf
from tests.data.plain import as_lists
from xlaflow.data import UNKNOWN_CARDINALITY, Dataset
from xlaflow.tensors import TensorSpec


def test_from_tensor_slices_nested_structures():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    ds = Dataset.from_tensor_slices(({"image": x, "id": y}, y))
    assert as_lists(ds) == [({"image": x[i].tolist(), "id": int(y[i])}, int(y[i]))
                            for i in range(4)]
    assert ds.element_spec == ({"image": TensorSpec((3,), np.float32),
                                "id": TensorSpec((), np.int64)}, TensorSpec((), np.int64))
    first = next(ds.as_numpy_iterator())
    assert type(first[0]["image"]) is np.ndarray
    assert isinstance(first[1], np.generic)  # rank-0 leaves are NumPy scalars
    # iter() views the same NumPy values with TF's .numpy() (no copy, no device, same dtype)
    first = next(iter(ds))
    assert isinstance(first[0]["image"], np.ndarray) and not isinstance(
        first[0]["image"], jax.Array)
    assert first[0]["image"].dtype == np.float32 and first[1].dtype == np.int64
    assert first[0]["image"].numpy().tolist() == x[0].tolist()
    assert type(first[1].numpy()) is np.int64 and first[1].numpy() == 0
    assert type(first[0]["image"].numpy()) is np.ndarray
    assert len(ds) == 4


def test_from_tensor_slices_python_values_follow_tf_dtypes():
    assert Dataset.from_tensor_slices([1, 2]).element_spec.dtype == np.int32
    assert Dataset.from_tensor_slices([1.5, 2.0]).element_spec.dtype == np.float32
    assert Dataset.from_tensor_slices(np.array([1.5])).element_spec.dtype == np.float64
    # a list is one array (tf.data's rule), a tuple is structure
    assert Dataset.from_tensor_slices([[1, 2], [3, 4]]).element_spec == TensorSpec((2,), "int32")


def test_from_tensor_slices_errors_name_the_lengths():
    with pytest.raises(ValueError, match=r"\[0\]: 3, \[1\]: 2"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(2)))
    with pytest.raises(ValueError, match="scalar"):
        Dataset.from_tensor_slices(np.float32(1))


def test_elements_are_read_only_views_and_the_source_stays_writable():
    x = np.arange(6).reshape(3, 2)
    row = next(iter(Dataset.from_tensor_slices(x)))
    with pytest.raises(ValueError, match="read-only"):
        row[0] = 7
    x[0, 0] = 9  # the caller's array is untouched by the dataset
    assert x.flags.writeable


def test_from_tensors_and_range():
    ds = Dataset.from_tensors((np.ones((2, 2)), 3))
    assert len(ds) == 1 and ds.element_spec[1] == TensorSpec((), "int32")
    r = Dataset.range(2, 11, 3)
    assert as_lists(r) == [2, 5, 8] and len(r) == 3
    assert r.element_spec == TensorSpec((), np.int64)
    assert all(type(v) is np.int64 for v in r.as_numpy_iterator())
    assert [v.numpy() for v in r] == [2, 5, 8]  # TF's `for x in ds.range(...): x.numpy()`
    assert r.reduce(0, lambda total, v: total + v).numpy() == 15
    assert as_lists(Dataset.range(4)) == [0, 1, 2, 3]
    assert as_lists(Dataset.range(3, output_type=xf.int32)) == [0, 1, 2]


def test_from_generator_checks_each_element():
    def gen():
        yield np.zeros(3, np.float32), 1
        yield [1.0, 2.0], 2  # Python values take the signature's dtype
        yield np.zeros(3, np.float64), 3  # same-kind arrays are cast, as TF converts them

    sig = (TensorSpec([None], xf.float32), TensorSpec([], xf.int64))
    ds = Dataset.from_generator(gen, output_signature=sig)
    out = list(ds)
    assert [e[0].dtype for e in out] == [np.float32] * 3 and out[1][1].dtype == np.int64
    assert ds.element_spec == sig and int(ds.cardinality()) == UNKNOWN_CARDINALITY
    assert len(list(ds)) == 3  # the generator is called afresh for each pass


@pytest.mark.parametrize("bad, match", [
    ((np.zeros((2, 2), np.float32), 1),
     r"element 2 component \[0\] has shape \(2, 2\).*expects TensorSpec\(shape=\(None,\)"),
    ((np.zeros(3, np.int32), 1),
     r"element 2 component \[0\] has dtype int32 where the signature expects float32"),
    ((np.zeros(3, np.float32),), r"element 2 does not match the signature's structure"),
    ({"a": 1}, r"element 2 does not match"),
])
def test_from_generator_errors_name_index_expected_and_received(bad, match):
    def gen():
        yield np.zeros(1, np.float32), 0
        yield np.zeros(5, np.float32), 0
        yield bad

    ds = Dataset.from_generator(
        gen, output_signature=(TensorSpec([None], xf.float32), TensorSpec([], xf.int32)))
    it = iter(ds)
    next(it), next(it)
    with pytest.raises((TypeError, ValueError), match=match):
        next(it)


def test_from_generator_argument_errors():
    with pytest.raises(TypeError, match="callable"):
        Dataset.from_generator((i for i in range(3)), output_signature=TensorSpec([]))
    with pytest.raises(TypeError, match="TensorSpec"):
        Dataset.from_generator(lambda: iter([]), output_signature=(np.float32,))
    old = Dataset.from_generator(lambda: iter([[1, 2]]), output_types=xf.int32,
                                 output_shapes=(2,))
    assert old.element_spec == TensorSpec((2,), xf.int32) and as_lists(old) == [[1, 2]]


def test_a_generator_that_refills_one_buffer_yields_distinct_elements():
    def refilling():
        buffer = np.zeros(3, np.float32)
        for i in range(4):
            buffer[:] = i
            yield buffer

    ds = Dataset.from_generator(refilling, output_signature=xf.TensorSpec((3,), xf.float32))
    expected = np.repeat(np.arange(4, dtype=np.float32)[:, None], 3, axis=1)
    np.testing.assert_array_equal(np.stack(list(ds)), expected)
    np.testing.assert_array_equal(next(iter(ds.batch(4))), expected)
    np.testing.assert_array_equal(np.stack(list(ds.prefetch(3))), expected)



def test_from_generator_reads_a_tuple_as_the_value_of_a_single_tensor_spec():
    # TF's performance guide yields `(sample_idx,)` for TensorSpec(shape=(1,)): TF converts
    # the tuple to that tensor; a rank mismatch is still an error naming the shapes.
    def gen():
        for i in range(3):
            yield (i,)

    ds = Dataset.from_generator(gen, output_signature=TensorSpec((1,), xf.int64))
    assert [e.tolist() for e in ds] == [[0], [1], [2]] and next(iter(ds)).dtype == np.int64
    nested = Dataset.from_generator(lambda: iter([[[1, 2], [3, 4]]]),
                                    output_signature=TensorSpec((2, None), xf.float32))
    assert next(iter(nested)).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(ValueError, match=r"has shape \(1,\) where the signature expects"):
        list(Dataset.from_generator(gen, output_signature=TensorSpec((), xf.int64)))
