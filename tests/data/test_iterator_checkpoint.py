"""Checkpoint(iterator=iter(dataset)): the position saved, and restored into a rebuilt
pipeline (TF's "Training checkpoints" guide). The oracle is always the saved iterator
itself: the batches it gives after the save are those the restored one must give."""

import os

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data import Dataset


def _pipeline(seed, rows=23):
    return (Dataset.from_tensor_slices(np.arange(rows))
            .shuffle(8, seed=seed).map(lambda x: x * 3 + 1).batch(4).repeat(3))


def _take(it, n):
    return [np.asarray(next(it)).tolist() for _ in range(n)]


def _rest(it):
    return [np.asarray(b).tolist() for b in it]


def _restored(build, path):
    """A "new process": other global random state, new dataset and iterator objects."""
    np.random.seed(12345)
    it = iter(build())
    xf.train.Checkpoint(iterator=it).restore(path).assert_consumed()
    return it


@pytest.mark.parametrize("seed", [None, 7])
@pytest.mark.parametrize("consumed", [4, 6, 8])  # 6 batches an epoch: within, at, after
def test_resumes_where_the_saved_iterator_was(tmp_path, seed, consumed):
    np.random.seed(0)
    it = iter(_pipeline(seed))
    _take(it, consumed)
    path = xf.train.Checkpoint(iterator=it).save(str(tmp_path / "ckpt"))
    oracle = _rest(it)  # crosses the repeat's next epoch boundary
    assert len(oracle) == 18 - consumed
    restored = _restored(lambda: _pipeline(seed), path)
    assert _rest(restored) == oracle


def test_prefetch_and_parallel_map_count_only_what_was_handed_out(tmp_path):
    def build():
        return (Dataset.range(40).shuffle(40).map(lambda x: x * 2, num_parallel_calls=3)
                .batch(3).repeat(2).prefetch(4))
    it = iter(build())
    _take(it, 5)  # the prefetch thread has produced more than these
    path = xf.train.Checkpoint(iterator=it).save(str(tmp_path / "ckpt"))
    assert xf.train.load_variable(path, "iterator/count") == 5
    oracle = _take(it, 12)  # 14 batches an epoch: crosses into the second
    restored = _restored(build, path)
    assert _take(restored, 12) == oracle
    it.close()
    restored.close()


def test_sample_from_datasets_without_a_seed(tmp_path):
    def build():
        return Dataset.sample_from_datasets(
            [Dataset.range(0, 50), Dataset.range(100, 150)], weights=[0.3, 0.7],
            rerandomize_each_iteration=True).take(20).repeat()
    it = iter(build())
    _take(it, 27)
    path = xf.train.Checkpoint(iterator=it).save(str(tmp_path / "ckpt"))
    oracle = _take(it, 30)
    assert _take(_restored(build, path), 30) == oracle


def test_another_iterator_drawing_between_passes(tmp_path):
    # Two iterators over one dataset take turns drawing its shuffle's pass indices; the
    # saved one's are not consecutive, and the restored one draws exactly those.
    np.random.seed(3)
    ds = Dataset.range(6).shuffle(6).repeat(2)
    first, second = iter(ds), iter(ds)
    _take(first, 1), _take(second, 1)
    _take(first, 6), _take(second, 6)
    path = xf.train.Checkpoint(iterator=first).save(str(tmp_path / "ckpt"))
    oracle = _rest(first)
    np.random.seed(3)  # the same seed again: what differs is the pass indices
    rebuilt = Dataset.range(6).shuffle(6).repeat(2)
    restored = iter(rebuilt)
    xf.train.Checkpoint(iterator=restored).restore(path)
    assert _rest(restored) == oracle
    second.close()


def test_with_a_checkpoint_manager(tmp_path):
    it = iter(_pipeline(None))
    manager = xf.train.CheckpointManager(xf.train.Checkpoint(iterator=it), str(tmp_path),
                                         max_to_keep=2)
    for _ in range(3):
        _take(it, 2)
        manager.save()
    oracle = _rest(it)
    np.random.seed(99)
    again = iter(_pipeline(None))
    ckpt = xf.train.Checkpoint(iterator=again)
    ckpt.restore(xf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=2)
                 .latest_checkpoint).assert_consumed()
    assert _rest(again) == oracle


def test_another_pipeline_is_refused_naming_both(tmp_path):
    it = iter(_pipeline(1))
    _take(it, 2)
    path = xf.train.Checkpoint(iterator=it, step=xf.Variable(2)).save(str(tmp_path / "ckpt"))
    other = iter(Dataset.from_tensor_slices(np.arange(23)).shuffle(9, seed=1)
                 .map(lambda x: x * 3 + 1).batch(4).repeat(3))
    step = xf.Variable(5)
    with pytest.raises(ValueError, match=r"(?s)another pipeline; nothing was restored.*"
                       r"saved:.*\"buffer_size\": 8.*this iterator's:.*\"buffer_size\": 9"):
        xf.train.Checkpoint(iterator=other, step=step).restore(path)
    assert int(step) == 5  # nothing changed: neither the Variable nor the iterator
    assert sorted(_rest(other)[0]) == sorted(_rest(iter(
        Dataset.from_tensor_slices(np.arange(23)).shuffle(9, seed=1)
        .map(lambda x: x * 3 + 1).batch(4).repeat(3)))[0])


def test_a_changed_source_file_is_another_pipeline(tmp_path):
    name = tmp_path / "lines.txt"
    name.write_text("a\nb\nc\nd\n")
    it = iter(xf.data.TextLineDataset(str(name)).repeat())
    _take(it, 3)
    path = xf.train.Checkpoint(iterator=it).save(str(tmp_path / "ckpt"))
    name.write_text("a\nb\nc\nd\ne\n")  # a replay would read other lines
    with pytest.raises(ValueError, match=r"(?s)another pipeline.*lines\.txt \(8 bytes.*"
                                         r"lines\.txt \(10 bytes"):
        xf.train.Checkpoint(iterator=iter(xf.data.TextLineDataset(str(name)).repeat())) \
            .restore(path)


def _gen():
    yield from range(5)


@pytest.mark.parametrize("build, named", [
    (lambda: Dataset.from_generator(_gen, output_signature=xf.TensorSpec((), xf.int64)),
     r"Dataset\.from_generator \(generator .*_gen\).*from_tensor_slices"),
    (lambda: Dataset.range(8).map(lambda x: x, num_parallel_calls=2, deterministic=False),
     r"Map with num_parallel_calls and deterministic=False.*deterministic=True"),
    (lambda: Dataset.range(8).interleave(lambda x: Dataset.range(x), cycle_length=2,
                                         num_parallel_calls=2).with_options(
        _options(deterministic=False)), r"Interleave .*Options\.deterministic=False"),
    (lambda: Dataset.range(8).shuffle(4).cache(), r"Dataset\.cache over a Shuffle.*"
                                             r"cache\(\)\.shuffle"),
    (lambda: Dataset.range(3).flat_map(lambda x: Dataset.range(4).shuffle(4)),
     r"a Shuffle built inside a stage's function .*without a seed"),
])
def test_refused_at_save_before_anything_is_written(tmp_path, build, named):
    it = iter(build())
    next(it)
    ckpt = xf.train.Checkpoint(iterator=it, step=xf.Variable(1))
    with pytest.raises(NotImplementedError, match="(?s)cannot save the position of an "
                                                  "xf.data iterator over " + named):
        ckpt.save(str(tmp_path / "ckpt"))
    assert os.listdir(tmp_path) == []
    assert ckpt.save_counter == 0
    it.close()


def _options(**fields):
    options = xf.data.Options()
    for key, value in fields.items():
        setattr(options, key, value)
    return options


def test_a_seeded_shuffle_inside_flat_map_replays(tmp_path):
    def build():
        return Dataset.range(4).flat_map(lambda x: Dataset.range(5).shuffle(5, seed=x))
    it = iter(build())
    _take(it, 7)
    path = xf.train.Checkpoint(iterator=it).save(str(tmp_path / "ckpt"))
    oracle = _rest(it)
    assert _rest(_restored(build, path)) == oracle


def test_tracked_only_at_the_top_level_and_only_from_an_iterator_position(tmp_path):
    it = iter(Dataset.range(3))
    with pytest.raises(TypeError, match=r"its\[0\] is an xf.data iterator; .*top level"):
        xf.train.Checkpoint(its=[it])
    path = xf.train.Checkpoint(iterator=3).save(str(tmp_path / "ckpt"))
    with pytest.raises(ValueError, match=r"object 'iterator', holds no xf.data iterator "
                                         r"position \(it has \['value'\]\)"):
        xf.train.Checkpoint(iterator=it).restore(path)
    assert _rest(it) == [0, 1, 2]


def test_a_restored_iterator_saves_its_position_again(tmp_path):
    it = iter(_pipeline(None).prefetch(2))
    _take(it, 5)
    first = xf.train.Checkpoint(iterator=it).save(str(tmp_path / "a"))
    _take(it, 4)
    oracle = _rest(it)
    again = _restored(lambda: _pipeline(None).prefetch(2), first)
    _take(again, 4)
    second = xf.train.Checkpoint(iterator=again).save(str(tmp_path / "b"))
    assert xf.train.load_variable(second, "iterator/count") == 9
    assert _rest(_restored(lambda: _pipeline(None).prefetch(2), second)) == oracle
    again.close()
