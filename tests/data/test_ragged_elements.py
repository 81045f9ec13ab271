"""xf.data with RaggedTensor components (TF's tf.data ragged elements): slices, batch,
ragged_batch, unbatch, map, pass-through stages, from_generator and element_spec, each
checked against the Python row lists the ragged values were built from."""

import os

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data import Dataset, structure
from xlaflow.data.host_tensor import HostTensor
from xlaflow.tensors import TensorSpec

ROWS = [[1, 2], [], [3, 4, 5], [6], [7, 8]]  # the oracle; an empty row included
NESTED = [[[1], [2, 3]], [], [[4, 5, 6]], [[], [7]]]  # ragged_rank 2
WORDS = [["a", "bc"], [], ["déf"]]


def _rt(rows=ROWS, **kwargs):
    return xf.ragged.constant(rows, dtype=xf.int32, **kwargs)


def _chunks(rows, n, drop=False):
    out = [rows[i:i + n] for i in range(0, len(rows), n)]
    return [c for c in out if len(c) == n] if drop else out


def _lists(elements):
    return [e.to_list() if isinstance(e, xf.RaggedTensor) else np.asarray(e).tolist()
            for e in elements]


def test_from_tensor_slices_of_ragged_rank_1_gives_dense_rows():
    ds = Dataset.from_tensor_slices(_rt())
    assert ds.element_spec == xf.RaggedTensorSpec([None], xf.int32, ragged_rank=0)
    assert repr(ds.element_spec).startswith("RaggedTensorSpec(TensorShape([None]), tf.int32, 0")
    rows = list(ds)
    assert all(type(r) is HostTensor and r.dtype == np.int32 for r in rows)  # as TF: Tensors
    assert [r.numpy().tolist() for r in rows] == ROWS
    plain = list(ds.as_numpy_iterator())
    assert all(type(r) is np.ndarray for r in plain) and [r.tolist() for r in plain] == ROWS
    assert int(ds.cardinality()) == len(ROWS)


def test_from_tensor_slices_of_ragged_rank_2_gives_ragged_rows():
    ds = Dataset.from_tensor_slices(_rt(NESTED))
    assert ds.element_spec == xf.RaggedTensorSpec([None, None], xf.int32, ragged_rank=1)
    rows = list(ds)
    assert all(isinstance(r, xf.RaggedTensor) for r in rows)
    assert _lists(rows) == NESTED
    assert rows[0].values.numpy().tolist() == [1, 2, 3]  # tensors inside, with .numpy()


@pytest.mark.parametrize("drop", [False, True])
def test_batch_gives_one_more_ragged_dimension(drop):
    ds = Dataset.from_tensor_slices(_rt()).batch(2, drop_remainder=drop)
    assert ds.element_spec == xf.RaggedTensorSpec([2 if drop else None, None], xf.int32,
                                                  ragged_rank=1)
    batches = list(ds)
    assert all(isinstance(b, xf.RaggedTensor) and b.ragged_rank == 1 for b in batches)
    assert _lists(batches) == _chunks(ROWS, 2, drop)
    # the per-element path (after filter) stacks as the gathering one does
    assert _lists(Dataset.from_tensor_slices(_rt()).filter(lambda r: True).batch(2, drop)) \
        == _chunks(ROWS, 2, drop)
    nested = Dataset.from_tensor_slices(_rt(NESTED)).batch(3)
    assert nested.element_spec.ragged_rank == 2 and _lists(nested) == _chunks(NESTED, 3)


def test_equal_length_rows_still_batch_into_a_ragged_tensor():
    batch = next(iter(Dataset.from_tensor_slices(_rt([[1, 2], [3, 4]])).batch(2)))
    assert isinstance(batch, xf.RaggedTensor) and batch.to_list() == [[1, 2], [3, 4]]


def test_unbatch_gives_the_rows_back():
    for rows in (ROWS, NESTED):
        ds = Dataset.from_tensor_slices(_rt(rows))
        again = ds.batch(3).unbatch()
        assert again.element_spec == ds.element_spec
        assert _lists(again) == rows
    gen = Dataset.from_generator(lambda: iter([_rt()]),
                                 output_signature=xf.RaggedTensorSpec([None, None], xf.int32))
    assert _lists(gen.unbatch()) == ROWS


def test_structures_mix_dense_and_ragged_components():
    labels = np.arange(len(ROWS), dtype=np.int64)
    ds = Dataset.from_tensor_slices({"tokens": _rt(), "label": labels, "pair": (_rt(), labels)})
    spec = ds.element_spec
    assert spec["label"] == TensorSpec((), np.int64)
    assert spec["tokens"] == spec["pair"][0] == xf.RaggedTensorSpec([None], xf.int32, 0)
    assert "RaggedTensorSpec" in structure.describe(spec)
    batches = list(ds.batch(2))
    assert [b["label"].tolist() for b in batches] == _chunks(labels.tolist(), 2)
    assert _lists([b["tokens"] for b in batches]) == _chunks(ROWS, 2)
    assert _lists([b["pair"][0] for b in batches]) == _chunks(ROWS, 2)
    tuples = Dataset.from_tensor_slices((_rt(NESTED), np.arange(4.0)))
    x, y = next(iter(tuples.batch(4)))
    assert x.to_list() == NESTED and y.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert [(r, int(i)) for r, i in zip(_lists(a for a, _ in tuples), (b for _, b in tuples))] \
        == [(r, i) for i, r in enumerate(NESTED)]


def test_ragged_batch_as_tfs_documented_example():
    ds = Dataset.range(6).map(lambda x: np.arange(x)).ragged_batch(2)
    assert ds.element_spec == xf.RaggedTensorSpec([None, None], xf.int64, ragged_rank=1)
    assert _lists(ds) == [[[], [0]], [[0, 1], [0, 1, 2]], [[0, 1, 2, 3], [0, 1, 2, 3, 4]]]


def test_ragged_batch_keeps_scalars_dense_and_inner_dimensions_uniform():
    ds = Dataset.range(5).map(lambda x: (np.full((x, 2), x, np.float32), x))
    batched = ds.ragged_batch(2, drop_remainder=True, row_splits_dtype=xf.int32)
    spec = batched.element_spec
    assert spec[0] == xf.RaggedTensorSpec([2, None, 2], xf.float32, 1, xf.int32)
    assert spec[1] == TensorSpec((2,), np.int64)
    out = list(batched)
    assert len(out) == 2 and all(b[0].row_splits.dtype == np.int32 for b in out)
    assert [b[0].to_list() for b in out] == [
        [np.full((i, 2), i).tolist() for i in pair] for pair in ([0, 1], [2, 3])]
    assert [b[1].tolist() for b in out] == [[0, 1], [2, 3]]
    # a component whose signature has None beyond the first dimension: TF's ragged_rank
    gen = Dataset.from_generator(lambda: iter([np.ones((2, 1)), np.ones((1, 3))]),
                                 output_signature=TensorSpec((None, None), np.float64))
    nested = gen.ragged_batch(2)
    assert nested.element_spec.ragged_rank == 2
    assert _lists(nested) == [[[[1.0]] * 2, [[1.0] * 3]]]


def test_ragged_batch_errors():
    with pytest.raises(ValueError, match="row_splits_dtype must be int32 or int64"):
        Dataset.range(3).ragged_batch(2, row_splits_dtype="float32")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        Dataset.range(3).ragged_batch(0)
    ds = Dataset.range(1, 3).map(lambda x: np.ones((1, x)))  # inner sizes vary too
    with pytest.raises(ValueError, match="uniform inner dimensions"):
        list(ds.ragged_batch(2))


def test_padded_batch_refuses_ragged_components_as_tf():
    for ds in (Dataset.from_tensor_slices(_rt()), Dataset.from_tensor_slices(_rt(NESTED)),
               Dataset.from_tensor_slices({"x": _rt(), "y": np.arange(5)})):
        with pytest.raises(TypeError, match="padded_batch is only supported for dense"):
            ds.padded_batch(2)


def test_map_takes_and_returns_ragged_tensors():
    ds = Dataset.from_tensor_slices(_rt(NESTED))
    doubled = ds.map(lambda r: r * 2)
    assert isinstance(doubled.element_spec, xf.RaggedTensorSpec)
    assert _lists(doubled) == [[[2 * v for v in row] for row in rows] for rows in NESTED]
    sums = ds.map(lambda r: xf.reduce_sum(r, axis=1))  # a RaggedTensor, summed per row
    assert _lists(sums) == [[sum(row) for row in rows] for rows in NESTED]
    made = Dataset.range(4).map(lambda n: xf.ragged.constant([[1] * int(n), [2]]))
    assert _lists(made.batch(2)) == [[[[], [2]], [[1], [2]]], [[[1, 1], [2]], [[1, 1, 1], [2]]]]
    # a row of a ragged_rank-1 value reaches the function dense, and what it returns is a
    # dense tensor (TF's map gives a Tensor): batch then needs equal lengths, as TF's
    lengths = Dataset.from_tensor_slices(_rt()).map(lambda row: np.shape(row)[0])
    assert [int(n) for n in lengths] == [len(r) for r in ROWS]
    dense = Dataset.from_tensor_slices(_rt()).map(lambda row: row + 1)
    assert dense.element_spec == TensorSpec((2,), np.int32)
    with pytest.raises(ValueError, match="use padded_batch"):
        list(dense.batch(2))


def test_pass_through_stages_keep_ragged_elements():
    ds = Dataset.from_tensor_slices(_rt())
    assert _lists(ds.filter(lambda r: np.shape(r)[0] > 1)) == [r for r in ROWS if len(r) > 1]
    assert _lists(ds.take(2)) == ROWS[:2] and _lists(ds.skip(3)) == ROWS[3:]
    assert _lists(ds.repeat(2)) == ROWS * 2
    shuffled = _lists(ds.shuffle(10, seed=3))
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, ROWS))
    assert _lists(ds.prefetch(2)) == ROWS
    cached = ds.map(lambda r: xf.RaggedTensor.from_row_lengths(r, [0, np.shape(r)[0]]))
    cached = cached.cache()
    assert _lists(cached) == _lists(cached) == [[[], r] for r in ROWS]
    assert _lists(ds.concatenate(ds).batch(5)) == [ROWS, ROWS]
    assert _lists(ds.cache().batch(5)) == [ROWS]  # still rows of a ragged component


def test_from_generator_with_a_ragged_tensor_spec():
    def gen():
        yield _rt(ROWS[:2])
        yield _rt(ROWS[2:])

    spec = xf.RaggedTensorSpec([None, None], xf.int32)
    ds = Dataset.from_generator(gen, output_signature=spec)
    assert ds.element_spec == spec
    assert _lists(ds) == [ROWS[:2], ROWS[2:]]
    assert _lists(ds.unbatch().batch(5)) == [ROWS]
    rows = Dataset.from_generator(lambda: iter([[1, 2, 3], [4]]),
                                  output_signature=xf.RaggedTensorSpec([None], xf.int64, 0))
    assert _lists(rows) == [[1, 2, 3], [4]] and _lists(rows.batch(2)) == [[[1, 2, 3], [4]]]
    assert next(iter(rows)).dtype == np.int64


def test_from_generator_errors_name_the_element():
    spec = xf.RaggedTensorSpec([None, None], xf.int32)
    cases = [([[1, 2], [3]], TypeError, "is a list where the signature expects"),
             (_rt(NESTED), ValueError, "has ragged_rank 2 where"),
             (xf.ragged.constant([[1.5]]), TypeError, "has dtype float32 where")]
    for value, error, message in cases:
        ds = Dataset.from_generator(lambda v=value: iter([v]), output_signature=spec)
        with pytest.raises(error, match=f"element 0.*{message}"):
            list(ds)
    fixed = xf.RaggedTensorSpec([2, None], xf.int32)
    with pytest.raises(ValueError, match="has shape \\[5, None\\] where"):
        list(Dataset.from_generator(lambda: iter([_rt()]), output_signature=fixed))


def test_text_valued_ragged_elements():
    rt = xf.ragged.constant(WORDS)
    ds = Dataset.from_tensor_slices(rt)
    assert ds.element_spec == xf.RaggedTensorSpec([None], xf.string, 0)
    encoded = [[w.encode("utf-8") for w in row] for row in WORDS]
    assert [r.tolist() for r in ds.as_numpy_iterator()] == encoded  # bytes, as TF's
    batch = next(iter(ds.batch(3)))
    assert batch.to_list() == encoded
    first, = ds.batch(3).as_numpy_iterator()  # TF's RaggedTensor.numpy(): rows as objects
    assert first.dtype == object and [list(r) for r in first] == encoded
    assert _lists(ds.batch(3).unbatch()) == [np.asarray(r).tolist() for r in WORDS]


def test_as_numpy_iterator_gives_numpy_rows_of_ragged_batches():
    batches = list(Dataset.from_tensor_slices(_rt()).batch(3).as_numpy_iterator())
    assert all(type(b) is np.ndarray and b.dtype == object for b in batches)
    assert [[r.tolist() for r in b] for b in batches] == _chunks(ROWS, 3)


def test_empty_input_map_infers_its_spec_from_an_empty_ragged_value():
    spec = xf.RaggedTensorSpec([None, None], xf.int32)
    ds = Dataset.from_generator(lambda: iter([]), output_signature=spec)
    lengths = ds.map(lambda r: r.row_lengths())
    assert lengths.element_spec == TensorSpec((0,), np.int32) and list(lengths) == []


def test_stages_that_cannot_hold_ragged_components_refuse_them(tmp_path):
    ds = Dataset.from_tensor_slices(_rt())
    with pytest.raises(TypeError, match="ragged component.*cache\\(\\) without a filename"):
        list(ds.cache(os.fspath(tmp_path / "c")))
    with pytest.raises(TypeError, match="RaggedTensor.*cache\\(\\) without a filename"):
        list(ds.batch(2).cache(os.fspath(tmp_path / "d")))
    with pytest.raises(NotImplementedError, match="rebatch of ragged components"):
        ds.batch(2).rebatch(3)
    with pytest.raises(TypeError, match="Dataset.unique: the elements must be dense"):
        ds.unique()
    with pytest.raises(NotImplementedError, match="Dataset.snapshot"):
        ds.snapshot  # noqa: B018
    mixed = Dataset.range(2).map(lambda n: _rt() if n == 0 else np.arange(3))
    with pytest.raises(TypeError, match="element 1 is a dense array but the first element's "
                                        "is a RaggedTensor"):
        list(mixed)
    with pytest.raises(ValueError, match="same size in their first dimension"):
        Dataset.from_tensor_slices((_rt(), np.arange(3)))


def test_ragged_tensor_spec_takes_ragged_rank_0_as_tf():
    spec = xf.RaggedTensorSpec([None], xf.int32)  # TF's default: rank - 1 = 0
    assert spec.ragged_rank == 0
    with pytest.raises(ValueError, match="ragged_rank must be an int in \\[0, rank - 1\\]"):
        xf.RaggedTensorSpec([None, None], xf.int32, ragged_rank=-1)


def test_ragged_batch_keeps_a_component_known_in_full_dense_as_tf():
    # TF's rule: only components with a dimension of unknown size become ragged; a shape
    # known from the source stays a dense batch. A map's output shape is its first
    # output's here (TF traces it), so there the first dimension is taken as varying.
    ds = xf.data.Dataset.from_tensor_slices(
        {"tok": xf.ragged.constant([[1, 2], [3], [4, 5, 6]]),
         "f": np.arange(6, dtype=np.float32).reshape(3, 2)})
    batched = ds.ragged_batch(2)
    assert batched.element_spec["f"] == xf.TensorSpec((None, 2), xf.float32)
    first = next(iter(batched))
    np.testing.assert_array_equal(first["f"], [[0.0, 1.0], [2.0, 3.0]])
    assert first["tok"].to_list() == [[1, 2], [3]]
    mapped = xf.data.Dataset.range(4).map(lambda x: xf.range(x)).prefetch(1).ragged_batch(2)
    assert [b.to_list() for b in mapped] == [[[], [0]], [[0, 1], [0, 1, 2]]]
