"""Review of Checkpoint(iterator=...): pipelines whose replay could silently differ from the
saved iterator's own continuation (the oracle) are replayed exactly, or refused."""

import itertools

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data import Dataset


def _norm(element):
    if isinstance(element, (tuple, list)):
        return [_norm(x) for x in element]
    return np.asarray(element).tolist()


def _save(it, tmp_path):
    return xf.train.Checkpoint(iterator=it).save(str(tmp_path / "ckpt"))


def _restored(build, path):
    np.random.seed(4321)  # a "new process": other global random state
    it = iter(build())
    xf.train.Checkpoint(iterator=it).restore(path).assert_consumed()
    return it


def _rest(it, n=60):
    return [_norm(x) for x in itertools.islice(it, n)]


_PIPELINES = {
    "reshuffle_across_epochs": lambda: Dataset.range(10).shuffle(5).repeat(3),
    "shuffle_after_repeat": lambda: Dataset.range(10).repeat(3).shuffle(7),
    "zip_of_two_shuffles": lambda: Dataset.zip(
        (Dataset.range(10).shuffle(4), Dataset.range(10).shuffle(6))).repeat(2),
    "rebatch_unbatch": lambda: Dataset.range(30).shuffle(9).batch(4).rebatch(3)
    .unbatch().batch(5, drop_remainder=True).repeat(2),
    "sample_rerandomized": lambda: Dataset.sample_from_datasets(
        [Dataset.range(10).shuffle(3), Dataset.range(20).map(lambda x: -x)],
        rerandomize_each_iteration=True).repeat(2),
    "flat_map_of_seeded_repeated_shuffles": lambda: Dataset.range(4).flat_map(
        lambda x: Dataset.range(3).shuffle(3, seed=5).repeat(2).map(lambda y: y + 10 * x)),
}


@pytest.mark.parametrize("name", sorted(_PIPELINES))
def test_replay_gives_the_saved_iterators_continuation(tmp_path, name):
    build = _PIPELINES[name]
    np.random.seed(0)
    dataset = build()
    list(dataset)  # another iterator drew passes first
    it = iter(dataset)
    for _ in range(7):
        next(it)
    path = _save(it, tmp_path)
    expected = _rest(it)
    assert _rest(_restored(build, path)) == expected


def _flat_map_of_a_closure_shuffle():
    outside = Dataset.range(5).shuffle(5, seed=1)  # one object, reused by every call
    return Dataset.range(3).flat_map(lambda x: outside.map(lambda y: y + 10 * x))


def test_a_closure_shuffle_iterated_before_is_refused_at_save(tmp_path):
    dataset = _flat_map_of_a_closure_shuffle()
    list(dataset)  # its closure's shuffle drew passes 0..2: the pass counter moved on
    it = iter(dataset)
    next(it)
    with pytest.raises(NotImplementedError, match="reaches from outside the pipeline"):
        _save(it, tmp_path)


def test_a_closure_shuffle_replayed_after_its_counter_moved_is_refused(tmp_path):
    dataset = _flat_map_of_a_closure_shuffle()
    it = iter(dataset)
    for _ in range(4):
        next(it)
    path = _save(it, tmp_path)  # its passes 0, 1 drawn first: a fresh build replays them
    expected = _rest(it)
    assert _rest(_restored(_flat_map_of_a_closure_shuffle, path)) == expected
    again = iter(dataset)  # same objects: the closure's shuffle would now draw pass 3
    with pytest.raises(ValueError, match="reaches from outside the pipeline"):
        xf.train.Checkpoint(iterator=again).restore(path)


def test_restore_twice_and_save_after_restore(tmp_path):
    build = _PIPELINES["reshuffle_across_epochs"]
    it = iter(build())
    for _ in range(12):
        next(it)
    first = _save(it, tmp_path)
    expected = _rest(it)
    restored = _restored(build, first)
    xf.train.Checkpoint(iterator=restored).restore(first)  # the same checkpoint again
    for _ in range(5):
        next(restored)
    second = xf.train.Checkpoint(iterator=restored).save(str(tmp_path / "again"))
    assert _rest(_restored(build, second)) == expected[5:]


def test_an_exhausted_iterator_restores_exhausted(tmp_path):
    build = lambda: Dataset.range(5).shuffle(5)
    it = iter(build())
    assert len(list(it)) == 5
    restored = _restored(build, _save(it, tmp_path))
    with pytest.raises(StopIteration):
        next(restored)
