"""An Iterator's position as arrays, for `Checkpoint(iterator=it)` (TF's iterator saving):
the elements handed out, each random stage's seed and passes, and the pipeline's shape.

A pass is a function of the pipeline's stages, each random stage's seed and the pass
indices it drew, so a position is saved as those plus a count, and restored by
replaying: a fresh pass over the rebuilt pipeline draws the same indices and skips
`count` elements. That is O(count) host work at restore (TF stores the stages' buffers
instead); stages whose stream no replay can reproduce are refused at save time.
"""

from __future__ import annotations

import collections
import contextvars
import json
import os
import weakref

import numpy as np

from xlaflow.data.passes import peeking

# The PassLog of the Iterator whose `next()` is running (prefetch's thread runs in a copy
# of that context, so what it draws ahead is recorded too).
active_log = contextvars.ContextVar("xf_data_pass_log", default=None)

# Mutable state, not the pipeline's shape: left out of the description.
_STATE = frozenset(("_spec", "_passes", "_lock", "_seed", "_seeded", "_merged_options",
                    "_recorded", "_common_spec", "_state_spec", "_workers"))
# Sources whose named files are part of the stream: their size and mtime are described.
_FILE_LISTS = frozenset(("_names", "_files"))


class PassLog:
    """The pass indices one Iterator drew from each random stage of its pipeline (as runs
    [start, length]), and the indices a restore makes it draw first (`plan`)."""

    def __init__(self, dataset):
        from xlaflow.data.grouping import GroupByWindow
        from xlaflow.data.mapping import FlatMap
        every = stages(dataset)
        randoms = [s for s in every if hasattr(s, "_seeded")]
        self.static = {id(s) for s in randoms}
        self.runs = {s: [] for s in randoms}
        self.plan = {}
        self.unseeded = None  # a random stage made during the pass, its seed drawn
        # Random stages reached through a stage's function only (flat_map, interleave):
        # a replay reproduces one only if its first pass here is its first pass ever, so
        # one built before this pass and already iterated (a closure's) is `stale`.
        self.outside = weakref.WeakSet()
        self.stale = None
        # Whether a pass can draw at all: a random stage, or a function that makes
        # datasets (flat_map, interleave, group_by_window); else next() skips the log.
        self.needed = bool(randoms) or any(isinstance(s, (FlatMap, GroupByWindow))
                                           for s in every)

    def record(self, stage, index):
        if id(stage) not in self.static:
            # built by a stage's function (flat_map, interleave): a replay rebuilds it, and
            # with a drawn seed it draws another order
            if not stage._seeded and self.unseeded is None:
                self.unseeded = type(stage).__name__
            if stage not in self.outside:
                self.outside.add(stage)
                if index != 0 and self.stale is None:
                    self.stale = (type(stage).__name__, index)
            return
        runs = self.runs[stage]
        if runs and runs[-1][0] + runs[-1][1] == index:
            runs[-1][1] += 1
        else:
            runs.append([index, 1])


def pass_index(stage, rerandomize):
    """The pass index a random stage (shuffle, sample_from_datasets) seeds a new pass with:
    0 without rerandomizing; else the next of its counter (or of a restore's plan), logged
    for the Iterator running. An element_spec peek draws nothing."""
    if peeking.get():
        return stage._passes if rerandomize else 0
    log = active_log.get()
    if not rerandomize:
        if log is not None:
            log.record(stage, 0)
        return 0
    with stage._lock:  # a log snapshot (save) holds it too: indices and counter agree
        plan = None if log is None else log.plan.get(stage)
        if plan:
            index = plan.popleft()
        else:
            index, stage._passes = stage._passes, stage._passes + 1
        if log is not None:
            log.record(stage, index)
    return index


def _children(value):
    from xlaflow.data.dataset import Dataset
    if isinstance(value, Dataset):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _children(item)
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _children(value[key])


def stages(dataset):
    """Every stage of the pipeline ending at `dataset`, inputs first, each once."""
    seen, order = set(), []

    def visit(stage):
        if id(stage) in seen:
            return
        seen.add(id(stage))
        for key in sorted(vars(stage)):
            for child in _children(vars(stage)[key]):
                visit(child)
        order.append(stage)
    visit(dataset)
    return order


def random_stages(dataset):
    """The stages whose passes draw from a seeded generator, in pipeline order."""
    return [s for s in stages(dataset) if hasattr(s, "_seeded")]


def _describe(value, files=False):
    from xlaflow.data.dataset import Dataset
    if isinstance(value, Dataset):
        return None  # an input: described as a stage of its own
    if value is None or isinstance(value, (bool, int, float, str)):
        if files and isinstance(value, str) and os.path.isfile(value):
            stat = os.stat(value)
            return f"{value} ({stat.st_size} bytes, mtime {stat.st_mtime_ns})"
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        return f"array{list(np.shape(value))}:{value.dtype}"
    if isinstance(value, (list, tuple)):
        return [_describe(v, files) for v in value]
    if isinstance(value, dict):
        return {str(k): _describe(v, files) for k, v in value.items()}
    if isinstance(value, (range, np.dtype)):
        return str(value)
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"
    return type(value).__name__  # an object whose repr may hold its address


def describe(dataset):
    """The pipeline's shape, as text: each stage's type and static parameters, inputs
    first, and the element_spec (seeds and pass counters are state, not shape)."""
    from xlaflow.data import structure
    from xlaflow.data.prefetch import Prefetch
    lines = []
    for stage in stages(dataset):
        params = {} if isinstance(stage, Prefetch) else {  # any buffer gives the same stream
            key.lstrip("_"): _describe(value, key in _FILE_LISTS)
            for key, value in sorted(vars(stage).items()) if key not in _STATE and
            _describe(value) is not None}
        lines.append(f"{type(stage).__name__}{json.dumps(params, sort_keys=True)}")
    lines.append(f"element_spec {structure.describe(dataset.element_spec)}")
    return "\n".join(lines)


def _stage_refusal(stage, deterministic):
    from xlaflow.data.filecache import FileCache
    from xlaflow.data.interleave import Interleave
    from xlaflow.data.mapping import Map
    from xlaflow.data.sources import Generator
    from xlaflow.data.transforms import Cache
    if isinstance(stage, Generator):
        return (f"Dataset.from_generator (generator {_describe(stage._generator)}): a "
                "Python generator's position cannot be saved (TF refuses it too). Build "
                "the pipeline from from_tensor_slices, range, TFRecordDataset or "
                "TextLineDataset (then map), or track the step and resume with "
                "iter(dataset.skip(steps_done))")
    if isinstance(stage, (Map, Interleave)) and stage._workers is not None \
            and not deterministic(stage._deterministic):
        return (f"{type(stage).__name__} with num_parallel_calls and deterministic=False "
                "(or Options.deterministic=False): its order depends on thread timing, so "
                "a replay gives another stream. Use deterministic=True")
    if isinstance(stage, (Cache, FileCache)):
        inner = random_stages(stage._input)
        if inner:
            return (f"Dataset.cache over a {type(inner[0]).__name__}: the cached pass may "
                    "be another iterator's, which a replay cannot rebuild. Cache before "
                    "shuffling: dataset.cache().shuffle(...)")
    return None


def refusal(dataset, log):
    """Why no replay reproduces this pipeline's stream (None when one does)."""
    from xlaflow.data.iterator import deterministic, pass_options
    token = pass_options.set(dataset.options())  # deterministic() reads the pipeline's
    try:
        for stage in stages(dataset):
            why = _stage_refusal(stage, deterministic)
            if why is not None:
                return why
    finally:
        pass_options.reset(token)
    if log.unseeded is not None:
        return (f"a {log.unseeded} built inside a stage's function (flat_map, interleave) "
                "without a seed: each replay draws another seed. Give it a seed")
    if log.stale is not None:
        return _stale(log.stale)
    return None


def _stale(stale):
    name, index = stale
    return (f"a {name} that a stage's function (flat_map, interleave) reaches from outside "
            f"the pipeline, already iterated before (its pass {index} was drawn first): its "
            "pass counter is not part of the pipeline, so a replay draws other passes. "
            "Build the dataset inside the function")


def save(iterator):
    """{key: array} of `iterator`'s position; NotImplementedError for a pipeline that no
    replay reproduces, naming the stage and what to write instead."""
    dataset, log = iterator._dataset, iterator._log
    why = refusal(dataset, log)
    if why is not None:
        raise NotImplementedError(f"Checkpoint: cannot save the position of an xf.data "
                                  f"iterator over {why}")
    arrays = {"count": np.int64(iterator._count),
              "pipeline": np.frombuffer(describe(dataset).encode(), np.uint8).copy()}
    for i, stage in enumerate(log.runs):
        with stage._lock:
            runs = [x for run in log.runs[stage] for x in run]
            arrays[f"random_{i:02d}"] = np.array([stage._seed, stage._passes, *runs], np.int64)
    return arrays


def restore(iterator, values, where):
    """Move `iterator` to the position `values` (from `save`) holds: the same seeds, a
    fresh pass drawing the saved pass indices, `count` elements skipped (replayed). A
    checkpoint of another pipeline raises ValueError naming both, and nothing changes."""
    dataset = iterator._dataset
    keys = {"count", "pipeline"}
    if not keys <= set(values):
        raise ValueError(f"{where} holds no xf.data iterator position (it has "
                         f"{sorted(values)})")
    saved, here = bytes(np.asarray(values["pipeline"], np.uint8)).decode(), describe(dataset)
    if saved != here:
        raise ValueError(f"{where} holds the position of another pipeline; nothing was "
                         f"restored.\n  saved:\n    {saved.replace(chr(10), chr(10) + '    ')}"
                         f"\n  this iterator's:\n    {here.replace(chr(10), chr(10) + '    ')}")
    log = PassLog(dataset)
    randoms = list(log.runs)
    states = [np.asarray(values[f"random_{i:02d}"]).tolist() for i in range(len(randoms))]
    old = [(s._seed, s._passes) for s in randoms]
    for stage, (seed, passes, *runs) in zip(randoms, states):
        stage._seed, stage._passes = seed, passes
        log.plan[stage] = collections.deque(
            index for start, length in zip(runs[::2], runs[1::2])
            for index in range(start, start + length))
    try:
        iterator._replay(log, int(values["count"]), _check_replay)
    except BaseException:
        for stage, (seed, passes) in zip(randoms, old):
            stage._seed, stage._passes = seed, passes
        raise


def _check_replay(log):
    # The replay drew from a stage outside the pipeline whose counter had moved on since
    # the save's process built it: its stream differs from the saved iterator's.
    if log.stale is not None:
        raise ValueError(f"Checkpoint.restore: cannot replay the iterator's position over "
                         f"{_stale(log.stale)}; nothing was restored")
