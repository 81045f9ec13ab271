"""ignore_errors: the elements whose production raised are dropped, the others kept in
order (the known answer: the input less the failing positions), as TF's IgnoreErrors."""

import logging

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data import Dataset

BAD = {0, 3, 4, 9}


def _f(v):
    if int(v) in BAD:
        raise ValueError(f"bad element {int(v)}")
    return v * 10


def _kept(n):
    return [v * 10 for v in range(n) if v not in BAD]


@pytest.mark.parametrize("parallel", [None, 3])
@pytest.mark.parametrize("deterministic", [None, False])
def test_errors_in_map_are_dropped(parallel, deterministic):
    ds = Dataset.range(12).map(_f, num_parallel_calls=parallel,
                               deterministic=deterministic).ignore_errors()
    got = [int(v) for v in ds]
    assert (sorted(got) if deterministic is False else got) == _kept(12)
    assert int(ds.cardinality()) == xf.data.UNKNOWN_CARDINALITY
    # Without ignore_errors the first error propagates (its note names the element).
    with pytest.raises(ValueError, match="bad element 0"):
        list(Dataset.range(12).map(_f, num_parallel_calls=parallel))


def test_errors_through_filter_map_chains_and_prefetch():
    ds = Dataset.range(12).filter(lambda v: 1 // int(v - 5) < 5).map(_f).prefetch(2)
    assert [int(v) for v in ds.ignore_errors()] == [v * 10 for v in range(12)
                                                    if v not in BAD and v != 5]
    twice = Dataset.range(12).map(_f).map(lambda v: 1 // int(v - 50)).ignore_errors()
    assert len(list(twice)) == len(_kept(12)) - 1
    assert [int(v) for v in Dataset.range(12).map(_f).ignore_errors().ignore_errors()] == \
        _kept(12)


def test_batch_drops_the_batch_an_error_interrupts():
    # TF's batch: the elements gathered before the error are lost with it; the next batch
    # starts after the failed element.
    got = [b.tolist() for b in Dataset.range(12).map(_f).batch(3).ignore_errors()]
    want, chunk = [], []
    for v in range(12):
        if v in BAD:
            chunk = []
            continue
        chunk.append(v * 10)
        if len(chunk) == 3:
            want.append(chunk)
            chunk = []
    assert got == want + ([chunk] if chunk else [])


def test_a_generator_that_raises_ends_the_dataset():
    def gen():
        yield from (1, 2)
        raise OSError("disk gone")
        yield 3  # never reached: a generator is finished once it raises

    spec = xf.TensorSpec((), "int32")
    ds = Dataset.from_generator(gen, output_signature=spec).ignore_errors()
    assert [int(v) for v in ds] == [1, 2]
    # An element unlike the signature is the dataset's error: dropped, the generator goes on.
    shaped = Dataset.from_generator(lambda: iter([1, [1, 2], 3]), output_signature=spec)
    assert [int(v) for v in shaped.ignore_errors()] == [1, 3]
    with pytest.raises(ValueError, match="has shape"):
        list(shaped)


def test_empty_and_all_failing():
    # (Every other stage: test_ignore_errors_stages.py.)
    assert list(Dataset.range(0).map(_f).ignore_errors()) == []
    assert list(Dataset.from_tensor_slices(np.array([0, 3, 4])).map(_f).ignore_errors()) == []


def test_element_spec_skips_a_failing_first_element():
    ds = Dataset.range(6).map(lambda v: np.ones(int(v), np.float32) * (1 // int(v)))
    with pytest.raises(ZeroDivisionError):
        ds.element_spec  # noqa: B018  (map's spec is its first output's)
    assert ds.ignore_errors().element_spec == xf.TensorSpec((1,), "float32")


def test_log_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="xlaflow.data"):
        assert len(list(Dataset.range(5).map(_f).ignore_errors(log_warning=True))) == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"Dataset.ignore_errors: dropped an element: ValueError: bad element {v}"
        for v in (0, 3, 4)]
    with pytest.raises(TypeError, match="log_warning must be a bool; received 'yes'"):
        Dataset.range(5).ignore_errors(log_warning="yes")


def test_keyboard_interrupt_is_not_swallowed():
    def stop(v):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        list(Dataset.range(3).map(stop).ignore_errors())
