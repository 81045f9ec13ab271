"""xf.data.Dataset as a whole: cardinality, iterator semantics, immutability, argument
validation, and the host-only rule under tracing."""

import itertools

import jax
import numpy as np
import pytest

import xlaflow as xf
from tests.compile_log import compiled_programs
from tests.data.plain import as_lists
from xlaflow.data import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset


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
    with pytest.raises(TypeError, match="filename must be a str or path; received int 3"):
        ds.cache(3)


def test_a_whole_pipeline_never_compiles_anything():
    with compiled_programs() as compiled:
        ds = (Dataset.from_tensor_slices({"x": np.random.rand(40, 3), "n": np.arange(40)})
              .map(lambda e: (e["x"] * 2, e["n"] % 5), num_parallel_calls=2)
              .filter(lambda x, n: n < 4).shuffle(8, seed=1).cache().repeat(2)
              .padded_batch(6).prefetch(2))
        assert ds.element_spec[0].shape == (None, None)
        total = sum(len(n) for _, n in ds)
    assert total == 64 and compiled == []

