"""xf.data.Options: TF's fields, types and merging; deterministic and
private_threadpool_size change what parallel stages do, the rest is recorded."""

import threading
import time

import pytest

from xlaflow.data import Dataset, Options
from xlaflow.data.experimental import AutoShardPolicy


def test_fields_defaults_and_unknown_names():
    o = Options()
    assert o.deterministic is None and o.experimental_slack is False
    assert o.experimental_distribute.auto_shard_policy == AutoShardPolicy.AUTO
    assert o.experimental_optimization.map_fusion is None
    o.experimental_optimization.map_fusion = True  # nested options stick once read
    o.threading.private_threadpool_size = 2
    o.experimental_distribute.auto_shard_policy = AutoShardPolicy.DATA
    assert o.experimental_optimization.map_fusion is True
    assert o.experimental_threading.private_threadpool_size == 2  # TF's deprecated alias
    o.experimental_deterministic = False
    assert o.deterministic is False
    with pytest.raises(AttributeError, match="Cannot set the property bogus on Options"):
        o.bogus = 1
    with pytest.raises(AttributeError, match="Cannot set the property map_fuson on "
                                             "OptimizationOptions"):
        o.experimental_optimization.map_fuson = True
    with pytest.raises(AttributeError):
        o.bogus  # noqa: B018
    with pytest.raises(TypeError, match='Property "deterministic" must be of type bool, got: 1'):
        o.deterministic = 1
    with pytest.raises(TypeError, match='"private_threadpool_size" must be of type int'):
        o.threading.private_threadpool_size = True
    with pytest.raises(ValueError, match='"private_threadpool_size" must be >= 0; received -1'):
        o.threading.private_threadpool_size = -1
    assert o.threading.private_threadpool_size == 2  # a refused value changes nothing


def test_options_merge_along_the_pipeline_as_tf():
    a, b = Options(), Options()
    a.deterministic = False
    a.experimental_optimization.map_fusion = True
    a.threading.private_threadpool_size = 4
    b.threading.private_threadpool_size = 2
    b.experimental_optimization.noop_elimination = False
    ds = Dataset.range(3).with_options(a).map(lambda v: v).with_options(b)
    merged = ds.options()
    assert merged.deterministic is False  # set by a, not by b
    assert merged.threading.private_threadpool_size == 2  # b, later, wins
    assert merged.experimental_optimization.map_fusion is True
    assert merged.experimental_optimization.noop_elimination is False
    assert merged == a.merge(b)
    assert Dataset.range(3).options() == Options()
    # zip and concatenate merge their inputs' options, in order.
    zipped = Dataset.zip((Dataset.range(2).with_options(a), Dataset.range(2).with_options(b)))
    assert zipped.options().threading.private_threadpool_size == 2
    assert zipped.options().deterministic is False
    with pytest.raises(ValueError, match="Use `Dataset.with_options"):
        merged.deterministic = True
    with pytest.raises(ValueError, match="Use `Dataset.with_options"):
        merged.threading.private_threadpool_size = 1
    a.deterministic = True  # the dataset kept a copy
    assert ds.options().deterministic is False
    assert [int(v) for v in ds] == [0, 1, 2]
    with pytest.raises(TypeError, match="options must be an xf.data.Options; received dict"):
        Dataset.range(3).with_options({"deterministic": False})


def _slow_first(v):
    if int(v) == 0:
        time.sleep(0.5)
    return v


@pytest.mark.parametrize("where", ["before", "after"])
def test_deterministic_false_lets_a_parallel_map_reorder(where):
    o = Options()
    o.deterministic = False
    ds = Dataset.range(4)
    if where == "before":
        ds = ds.with_options(o).map(_slow_first, num_parallel_calls=4)
    else:
        ds = ds.map(_slow_first, num_parallel_calls=4).with_options(o)
    got = [int(v) for v in ds]
    assert sorted(got) == [0, 1, 2, 3] and got[0] != 0  # element 0 came later
    # The map's own argument overrides the option; no option: ordered.
    pinned = Dataset.range(4).map(_slow_first, num_parallel_calls=4, deterministic=True)
    assert [int(v) for v in pinned.with_options(o)] == [0, 1, 2, 3]
    assert [int(v) for v in Dataset.range(4).map(_slow_first, num_parallel_calls=4)] == \
        [0, 1, 2, 3]


def test_private_threadpool_size_caps_the_threads_of_a_parallel_map():
    seen, lock = set(), threading.Lock()

    def record(v):
        with lock:
            seen.add(threading.get_ident())
        time.sleep(0.02)
        return v

    o = Options()
    o.threading.private_threadpool_size = 1
    ds = Dataset.range(16).map(record, num_parallel_calls=8).with_options(o)
    passes = [lambda: [int(v) for v in ds] == list(range(16)),
              lambda: [int(v) for v in ds.prefetch(2)] == list(range(16)),  # its thread too
              lambda: int(ds.reduce(0, lambda s, v: s + v)) == sum(range(16))]
    for one_pass in passes:
        seen.clear()
        assert one_pass()
        assert len(seen) == 1  # each pass has its own pool, of one thread
    seen.clear()
    assert [int(v) for v in Dataset.range(16).map(record, num_parallel_calls=4)] == \
        list(range(16))
    assert len(seen) > 1
