"""xf.data transformations (map, filter, batch, zip, cache, shard...) against plain-Python
references, and the errors that name the element at fault."""

import itertools

import numpy as np
import pytest

import xlaflow as xf
from tests.data.plain import as_lists
from xlaflow.data import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from xlaflow.tensors import TensorSpec


def test_map_unpacks_tuples_like_tf():
    ds = Dataset.from_tensor_slices((np.arange(4), np.arange(4) * 10))
    assert as_lists(ds.map(lambda a, b: a + b)) == [0, 11, 22, 33]
    d = Dataset.from_tensor_slices({"a": np.arange(3)})
    assert as_lists(d.map(lambda e: e["a"] * 2)) == [0, 2, 4]
    # a returned list becomes a tuple, as in TF
    assert as_lists(ds.map(lambda a, b: [b, a]).take(1)) == [(0, 0)]


def test_map_element_spec_from_first_output_and_later_sizes_may_vary():
    ds = Dataset.range(4).map(lambda i: np.ones(int(i) + 1, np.float32))
    assert ds.element_spec == TensorSpec((1,), np.float32)
    assert [len(v) for v in ds] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match=r"element 1 has shape \(2,\) but element 0's .* "
                                         r"use padded_batch"):
        list(ds.batch(2))


@pytest.mark.parametrize("parallel", [None, 3])
def test_map_structure_or_dtype_change_names_the_element(parallel):
    def structure_change(i):
        return (i, i) if i < 2 else i

    def dtype_change(i):
        return np.float32(i) if i != 3 else np.float64(i)

    def rank_change(i):
        return np.zeros((2,)) if i != 4 else np.zeros((2, 1))

    with pytest.raises(TypeError, match="element 2 has structure"):
        list(Dataset.range(6).map(structure_change, num_parallel_calls=parallel))
    with pytest.raises(TypeError, match="element 3 has dtype float64 but the first"):
        list(Dataset.range(6).map(dtype_change, num_parallel_calls=parallel))
    with pytest.raises(ValueError, match=r"element 4 has shape \(2, 1\) \(rank 2\)"):
        list(Dataset.range(6).map(rank_change, num_parallel_calls=parallel))


def test_map_function_errors_keep_their_type_and_note_the_index():
    def boom(i):
        if i == 3:
            raise KeyError("missing")
        return i

    with pytest.raises(KeyError) as info:
        list(Dataset.range(5).map(boom))
    assert any("element 3" in note for note in info.value.__notes__)
    with pytest.raises(TypeError, match="returned None for element 0"):
        list(Dataset.range(2).map(lambda i: None))


def test_map_spec_of_an_empty_input_comes_from_zeros_of_its_spec():
    ds = Dataset.range(5).filter(lambda i: i > 10).map(lambda i: (i * 2, np.float32(i)))
    assert ds.element_spec == (TensorSpec((), np.int64), TensorSpec((), np.float32))


def test_filter_take_skip_enumerate_against_python():
    ref = list(range(20))
    ds = Dataset.range(20)
    assert as_lists(ds.filter(lambda i: i % 3 == 0)) == [i for i in ref if i % 3 == 0]
    for n in (0, 5, 25, -1):
        assert as_lists(ds.take(n)) == (ref if n == -1 else ref[:n])
        assert as_lists(ds.skip(n)) == ([] if n == -1 else ref[n:])
    assert as_lists(ds.take(3).enumerate(start=5)) == [(5, 0), (6, 1), (7, 2)]
    with pytest.raises(TypeError, match="scalar bool; for element 0 it returned dtype int64"):
        list(ds.filter(lambda i: i))


def test_repeat_zip_concatenate_unbatch_flat_map():
    ds = Dataset.range(3)
    assert as_lists(ds.repeat(2)) == [0, 1, 2] * 2
    assert as_lists(ds.repeat().take(7)) == list(itertools.islice(itertools.cycle(range(3)), 7))
    assert as_lists(ds.filter(lambda i: False).repeat()) == []  # ends, does not spin
    assert as_lists(Dataset.zip((ds, Dataset.range(10, 20)))) == [(0, 10), (1, 11), (2, 12)]
    assert as_lists(Dataset.zip(ds, ds.skip(1))) == [(0, 1), (1, 2)]
    assert as_lists(Dataset.zip({"a": ds, "b": ds})) == [{"a": i, "b": i} for i in range(3)]
    assert as_lists(ds.concatenate(Dataset.range(5, 7))) == [0, 1, 2, 5, 6]
    assert as_lists(ds.batch(2).unbatch()) == [0, 1, 2]
    pairs = Dataset.from_tensor_slices((np.arange(6).reshape(3, 2), np.zeros((3, 2)))).unbatch()
    assert as_lists(pairs.map(lambda a, b: a)) == list(range(6))
    assert as_lists(ds.flat_map(lambda i: Dataset.range(i))) == [0, 0, 1]
    assert ds.reduce(np.int64(0), lambda s, e: s + e) == 3
    assert ds.apply(lambda d: d.take(1)).cardinality() == 1


def test_concatenate_relaxes_sizes_and_rejects_other_structures():
    a = Dataset.from_tensors(np.zeros((2, 3)))
    b = Dataset.from_tensors(np.zeros((4, 3)))
    assert a.concatenate(b).element_spec == TensorSpec((None, 3), np.float64)
    with pytest.raises(TypeError, match="same structure and dtypes"):
        a.concatenate(Dataset.from_tensors((np.zeros((2, 3)), 1)))
    with pytest.raises(TypeError, match="same structure and dtypes"):
        a.concatenate(Dataset.from_tensors(np.zeros((2, 3), np.float32)))


def test_batch_and_padded_batch_against_python():
    ds = Dataset.from_tensor_slices((np.arange(10), np.arange(20).reshape(10, 2)))
    batches = list(ds.batch(4))
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][1].shape == (4, 2)
    assert ds.batch(4).element_spec == (TensorSpec((None,), np.int64),
                                        TensorSpec((None, 2), np.int64))
    assert ds.batch(4, drop_remainder=True).element_spec[1] == TensorSpec((4, 2), np.int64)
    assert len(list(ds.batch(4, drop_remainder=True))) == 2

    seqs = Dataset.range(1, 5).map(lambda n: np.arange(1, int(n) + 1))
    padded = list(seqs.padded_batch(2, padding_values=-1))
    assert [p.tolist() for p in padded] == [[[1, -1], [1, 2]], [[1, 2, 3, -1], [1, 2, 3, 4]]]
    fixed = seqs.padded_batch(3, padded_shapes=[5], drop_remainder=True)
    assert fixed.element_spec == TensorSpec((3, 5), np.int64)
    assert [p.shape for p in fixed] == [(3, 5)]
    with pytest.raises(ValueError, match=r"element 3 has shape \(4,\), larger than "
                                         r"padded_shapes \(3,\)"):
        list(seqs.padded_batch(4, padded_shapes=[3]))


def test_padded_batch_per_component_arguments():
    def gen():
        yield np.ones(2, np.int32), "ab"
        yield np.ones(3, np.int32), "c"

    ds = Dataset.from_generator(gen, output_signature=(TensorSpec([None], xf.int32),
                                                       TensorSpec([], np.dtype("<U1"))))
    (nums, strs), = list(ds.padded_batch(2, padded_shapes=((None,), ()),
                                         padding_values=(7, "")))
    assert nums.tolist() == [[1, 1, 7], [1, 1, 1]] and strs.tolist() == ["ab", "c"]
    with pytest.raises(TypeError, match="padding_values must have the elements' structure"):
        ds.padded_batch(2, padding_values=(1, 2, 3))
    with pytest.raises(ValueError, match=r"rank 2\) but the elements have rank 1"):
        ds.padded_batch(2, padded_shapes=([None, 2], []))


def test_cache_replays_and_ignores_an_unfinished_first_pass():
    calls = []
    ds = Dataset.range(5).map(lambda i: calls.append(int(i)) or i).cache()
    it = iter(ds)
    assert [int(next(it)) for _ in range(2)] == [0, 1]
    it.close()  # abandoned: nothing recorded
    assert as_lists(ds) == [0, 1, 2, 3, 4]
    calls.clear()
    assert as_lists(ds) == [0, 1, 2, 3, 4] and calls == []  # replayed, map not rerun
    shuffled = Dataset.range(20).shuffle(20, seed=3).cache()
    assert as_lists(shuffled) == as_lists(shuffled)  # the first order is what is replayed


def test_flat_map_checks_the_inner_datasets_agree():
    ds = Dataset.range(3).flat_map(
        lambda i: Dataset.from_tensors(np.float32(i) if i < 2 else np.int32(i)))
    with pytest.raises(TypeError, match="flat_map: element 2 has dtype int32"):
        list(ds)


def test_namedtuples_strings_and_key_order_survive_the_pipeline():
    import collections
    Pair = collections.namedtuple("Pair", ["text", "n"])
    ds = Dataset.from_tensor_slices({"z": np.arange(3), "a": np.arange(3) * 2}).map(
        lambda e: Pair("x" * int(e["z"] + 1), e["a"]))  # string widths vary: one dtype
    (batch,) = list(ds.batch(3))
    assert type(batch) is Pair and batch.text.tolist() == ["x", "xx", "xxx"]
    assert batch.n.tolist() == [0, 2, 4]
    assert list(next(iter(Dataset.from_tensor_slices({"z": [1], "a": [2]})))) == ["z", "a"]


def test_repeat_forever_is_infinite_even_over_an_unknown_length():
    unknown = Dataset.range(5).filter(lambda v: v % 2 == 0)
    assert int(unknown.cardinality()) == UNKNOWN_CARDINALITY
    assert int(unknown.repeat().cardinality()) == INFINITE_CARDINALITY
    assert int(unknown.repeat(2).cardinality()) == UNKNOWN_CARDINALITY
    assert int(Dataset.range(0).repeat().cardinality()) == 0
    assert [int(v) for v in unknown.repeat().take(5)] == [0, 2, 4, 0, 2]


@pytest.mark.parametrize("deterministic", [True, False])
@pytest.mark.parametrize("workers", [2, 8])
def test_a_failing_input_raises_after_the_outputs_it_produced(workers, deterministic):
    def source():
        yield from range(5)
        raise OSError("read failed")

    src = Dataset.from_generator(source, output_signature=TensorSpec((), "int64"))
    mapped = src.map(lambda v: v * 10, num_parallel_calls=workers,
                     deterministic=deterministic)
    got = []
    with pytest.raises(OSError, match="read failed"):
        for value in mapped:
            got.append(int(value))
    assert sorted(got) == [0, 10, 20, 30, 40]
    if deterministic:
        assert got == [0, 10, 20, 30, 40]


def test_shard_take_while_and_get_single_element_as_tf():
    ds = Dataset.range(10)
    assert [int(v) for v in ds.shard(3, 1)] == [1, 4, 7]
    assert [int(ds.shard(3, i).cardinality()) for i in range(3)] == [4, 3, 3]
    assert int(Dataset.range(2).shard(3, 2).cardinality()) == 0
    with pytest.raises(ValueError, match=r"index must be in \[0, 3\); received 3"):
        ds.shard(3, 3)
    assert [int(v) for v in ds.take_while(lambda v: v < 4)] == [0, 1, 2, 3]
    assert int(ds.take_while(lambda v: v < 4).cardinality()) == UNKNOWN_CARDINALITY
    assert int(Dataset.range(5).filter(lambda v: v == 3).get_single_element()) == 3
    with pytest.raises(ValueError, match="more than one element"):
        ds.get_single_element()
    with pytest.raises(ValueError, match="is empty"):
        ds.take(0).get_single_element()
    with pytest.raises(NotImplementedError, match=r"Dataset.snapshot is not "
                       r"implemented in xlaflow; use cache\(\)"):
        ds.snapshot("/tmp/snap")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ds.nope  # noqa: B018

