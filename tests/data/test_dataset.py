"""xf.data.Dataset: sources and transformations against plain-Python references, specs,
cardinality, iterator semantics, error messages, and the host-only rule under tracing."""

import itertools

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from xlaflow.tensors import TensorSpec


def as_lists(ds):
    """Elements as plain Python values, for comparison with references."""
    def plain(x):
        if isinstance(x, tuple):
            return tuple(plain(v) for v in x)
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return np.asarray(x).tolist()
    return [plain(e) for e in ds]


# --- sources ------------------------------------------------------------------------------

def test_from_tensor_slices_nested_structures():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    ds = Dataset.from_tensor_slices(({"image": x, "id": y}, y))
    assert as_lists(ds) == [({"image": x[i].tolist(), "id": int(y[i])}, int(y[i]))
                            for i in range(4)]
    assert ds.element_spec == ({"image": TensorSpec((3,), np.float32),
                                "id": TensorSpec((), np.int64)}, TensorSpec((), np.int64))
    first = next(iter(ds))
    assert isinstance(first[0]["image"], np.ndarray) and not isinstance(
        first[0]["image"], jax.Array)
    assert isinstance(first[1], np.generic)  # rank-0 leaves are NumPy scalars
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
    assert all(type(v) is np.int64 for v in r)
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


# --- transformations against references ---------------------------------------------------

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


# --- cardinality --------------------------------------------------------------------------

@pytest.mark.parametrize("build, expected", [
    (lambda d: d, 10),
    (lambda d: d.batch(3), 4),
    (lambda d: d.batch(3, drop_remainder=True), 3),
    (lambda d: d.padded_batch(4), 3),
    (lambda d: d.repeat(), INFINITE_CARDINALITY),
    (lambda d: d.repeat(3), 30),
    (lambda d: d.repeat(0), 0),
    (lambda d: d.filter(lambda x: True), UNKNOWN_CARDINALITY),
    (lambda d: d.filter(lambda x: True).batch(2), UNKNOWN_CARDINALITY),
    (lambda d: d.repeat().take(7), 7),
    (lambda d: d.take(20), 10),
    (lambda d: d.skip(4), 6),
    (lambda d: d.skip(-1), 0),
    (lambda d: d.repeat().skip(4), INFINITE_CARDINALITY),
    (lambda d: d.repeat().batch(4), INFINITE_CARDINALITY),
    (lambda d: d.map(lambda x: x).shuffle(3).cache().prefetch(2).enumerate(), 10),
    (lambda d: Dataset.zip((d, d.take(4))), 4),
    (lambda d: Dataset.zip((d.repeat(), d.take(4))), 4),
    (lambda d: Dataset.zip((d, d.filter(lambda x: True))), UNKNOWN_CARDINALITY),
    (lambda d: d.concatenate(d.take(2)), 12),
    (lambda d: d.concatenate(d.repeat()), INFINITE_CARDINALITY),
    (lambda d: d.batch(2).unbatch(), UNKNOWN_CARDINALITY),
    (lambda d: d.flat_map(lambda x: Dataset.range(x)), UNKNOWN_CARDINALITY),
])
def test_cardinality(build, expected):
    ds = build(Dataset.range(10))
    assert ds.cardinality() == expected and ds.cardinality().numpy() == expected
    if expected >= 0:
        assert len(ds) == expected == len(list(itertools.islice(ds, 100)))
    else:
        with pytest.raises(TypeError, match="infinite" if expected == -1 else "unknown"):
            len(ds)
        assert bool(ds)
    assert Dataset.INFINITE_CARDINALITY == INFINITE_CARDINALITY == AUTOTUNE == -1


# --- iteration ----------------------------------------------------------------------------

def test_iterators_are_independent_and_stay_exhausted():
    ds = Dataset.range(3).map(lambda i: i * 2)
    a, b = iter(ds), iter(ds)
    assert int(next(a)) == 0 and int(next(a)) == 2 and int(next(b)) == 0
    assert list(a) == [4]
    for _ in range(3):
        with pytest.raises(StopIteration):
            next(a)
    assert as_lists(ds.as_numpy_iterator()) == [0, 2, 4]
    assert b.element_spec == ds.element_spec and int(b.get_next()) == 2


def test_immutable_each_transformation_is_a_new_dataset():
    base = Dataset.range(4)
    taken = base.take(2)
    assert as_lists(base) == [0, 1, 2, 3] and as_lists(taken) == [0, 1]
    assert "Range" in repr(base) and "int64" in repr(base)


def test_iterating_under_a_trace_raises_with_the_host_loop():
    ds = Dataset.range(3)

    @jax.jit
    def jitted(x):
        for _ in ds:
            pass
        return x

    with pytest.raises(TypeError, match=r"(?s)run on the host.*for x, y in dataset:\n"
                                        r"\s+train_step\(x, y\)"):
        jitted(1.0)

    @xf.function
    def step(x):
        for e in ds:
            x = x + e
        return x

    with pytest.raises(TypeError, match="cannot be iterated inside a traced function"):
        step(xf.constant(1.0))
    with pytest.raises(TypeError, match="as_numpy_iterator"):
        jax.jit(lambda x: list(ds.as_numpy_iterator()) and x)(1.0)
    assert as_lists(ds) == [0, 1, 2]  # eager iteration is unaffected


def test_the_host_loop_feeds_a_compiled_step():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    ds = Dataset.from_tensor_slices((x, x.sum(1))).shuffle(6, seed=0).batch(3).prefetch(1)

    @xf.function
    def step(a, b):
        return xf.reduce_sum(a) - xf.reduce_sum(b)

    assert [float(step(a, b)) for a, b in ds] == [0.0, 0.0]


def test_argument_validation():
    ds = Dataset.range(3)
    for bad in (lambda: ds.batch(0), lambda: ds.shuffle(0), lambda: ds.take(-2),
                lambda: ds.map(len, num_parallel_calls=0), lambda: ds.prefetch(-3)):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError, match="scalar"):
        ds.unbatch()
    with pytest.raises(TypeError, match="Datasets"):
        Dataset.zip((ds, [1, 2]))
    with pytest.raises(NotImplementedError, match="in-memory"):
        ds.cache("/tmp/x")


def test_a_whole_pipeline_never_compiles_anything():
    compiled = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        ds = (Dataset.from_tensor_slices({"x": np.random.rand(40, 3), "n": np.arange(40)})
              .map(lambda e: (e["x"] * 2, e["n"] % 5), num_parallel_calls=2)
              .filter(lambda x, n: n < 4).shuffle(8, seed=1).cache().repeat(2)
              .padded_batch(6).prefetch(2))
        assert ds.element_spec[0].shape == (None, None)
        total = sum(len(n) for _, n in ds)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert total == 64 and compiled == []


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
