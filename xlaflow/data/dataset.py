"""`Dataset`: TF's tf.data on the host -- an immutable, re-iterable pipeline of NumPy elements.

Input pipelines run in Python beside the compiled step (as tf.data runs beside a TF graph):
each `iter()` is a fresh pass, and nothing here touches XLA. How a stage opens, closes and
peeks the passes of its input is passes.py.
"""

from __future__ import annotations

import contextlib

from xlaflow.data.iterator import Iterator, check_host

AUTOTUNE = -1
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2


class Cardinality(int):
    """A Python int; `.numpy()` too, because TF code writes `ds.cardinality().numpy()`."""

    def numpy(self):
        return int(self)


class Dataset:
    """A pipeline of elements: nested tuples/dicts of NumPy arrays (TF's `tf.data.Dataset`).

    Build one from a source (`from_tensor_slices`, `from_generator`, `range`, ...), chain
    transformations (each returns a new Dataset), and iterate it in Python:

    >>> ds = Dataset.range(10).map(lambda x: x * 2).batch(4)
    >>> [b.tolist() for b in ds]
    [[0, 2, 4, 6], [8, 10, 12, 14], [16, 18]]
    >>> int(ds.cardinality())
    3
    """

    INFINITE_CARDINALITY = INFINITE_CARDINALITY
    UNKNOWN_CARDINALITY = UNKNOWN_CARDINALITY

    _spec = None  # the element_spec, once known

    # --- what a stage implements ----------------------------------------------------------

    def _iterate(self):
        """A generator over the elements of one fresh pass."""
        raise NotImplementedError

    def _infer_spec(self):
        raise NotImplementedError

    def _cardinality(self):
        return UNKNOWN_CARDINALITY

    def _iterate_or_fail(self):
        """A pass for ignore_errors: a failed element comes as `errors.Failed` (see there).

        This default, for sources, ends the pass at an error; every stage with an input
        overrides it (ignore_errors refuses a pipeline holding one that does not)."""
        from xlaflow.data.errors import ended_by_error
        return ended_by_error(self)

    def _rows(self):
        """`(source, indices)` when every element is a row of a `from_tensor_slices` source:
        `indices()` gives one pass's row numbers, `source.gather(rows)` a batch of them.

        `batch` then gathers a whole batch with one NumPy indexing per array instead of
        stacking elements one by one (the same values, several times faster). None here:
        stages that compute elements opt out.
        """

    # --- inspection -----------------------------------------------------------------------

    @property
    def element_spec(self):
        """The structure of TensorSpecs that describes each element."""
        if self._spec is None:
            self._spec = self._infer_spec()
        return self._spec

    def cardinality(self):
        """The number of elements, or INFINITE_CARDINALITY (-1) / UNKNOWN_CARDINALITY (-2)."""
        return Cardinality(self._cardinality())

    def __len__(self):
        n = self._cardinality()
        if n == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        if n == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return n

    def __bool__(self):
        return True  # as TF: a dataset is truthy even when its length is unknown

    def __repr__(self):
        spec = "<inferred on first use>" if self._spec is None else self._spec
        return f"<{type(self).__name__} element_spec={spec}>"

    # --- iteration ------------------------------------------------------------------------

    def __iter__(self):
        """A pass whose arrays have TF's `.numpy()` (HostTensor: NumPy, viewed)."""
        check_host("__iter__")
        return Iterator(self, host_tensors=True)

    def as_numpy_iterator(self):
        """A pass of plain NumPy elements."""
        check_host("as_numpy_iterator")
        return Iterator(self, plain_bytes=True)

    def reduce(self, initial_state, reduce_func):
        """`reduce_func(state, element)` folded over the elements, from `initial_state`
        (elements as `iter()` gives them: `ds.reduce(0, add).numpy()` works, as in TF).

        As in TF the state is tensors throughout: `initial_state` is converted (a Python int
        is int32) and so is what `reduce_func` returns, so `ds.reduce(0, lambda n, _: n + 1)
        .numpy()` counts elements, and an empty dataset gives the initial state."""
        from xlaflow.data.host_tensor import as_host_tensors
        check_host("reduce")
        state = as_host_tensors(initial_state)
        with contextlib.closing(Iterator(self, host_tensors=True)) as it:  # under options
            for element in it:
                state = reduce_func(state, element)
        return as_host_tensors(state)

    # --- sources --------------------------------------------------------------------------

    @staticmethod
    def from_tensor_slices(tensors):
        """One element per index of the leaves' first dimension (shared by all leaves).

        Unlike TF, which copies them into tensors, NumPy arrays are not copied: elements
        are read-only views, so a large training set is not held twice, and changing the
        arrays afterwards changes what the dataset yields. Pass a copy to snapshot them."""
        from xlaflow.data.sources import TensorSlices
        return TensorSlices(tensors)

    @staticmethod
    def from_tensors(tensors):
        """A dataset of exactly one element, `tensors`."""
        from xlaflow.data.sources import Tensors
        return Tensors(tensors)

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None,
                       output_signature=None):
        """Elements from `generator(*args)`, each checked against `output_signature`."""
        from xlaflow.data.sources import Generator
        return Generator(generator, output_signature, args, output_types, output_shapes)

    @staticmethod
    def range(*args, output_type=None):
        """`range(stop)` / `range(start, stop[, step])` as int64 scalars."""
        from xlaflow.data.sources import Range
        return Range(*args, output_type=output_type)

    @staticmethod
    def counter(start=0, step=1, dtype="int64", name=None):
        """`start`, `start + step`, ... without end (TF's Dataset.counter)."""
        from xlaflow.data.sources import Counter
        return Counter(start, step, dtype)

    @staticmethod
    def list_files(file_pattern, shuffle=None, seed=None, name=None):
        """The names of the files matching the glob `file_pattern` (or list of globs), each
        once: shuffled by default (TF's), sorted with `shuffle=False`."""
        from xlaflow.data.files import list_files
        return list_files(file_pattern, shuffle, seed)

    @staticmethod
    def zip(*datasets, **kwargs):
        """Elements of several datasets side by side, until the shortest ends.

        `Dataset.zip((a, b))`, `Dataset.zip(a, b)` and `Dataset.zip({'x': a, 'y': b})`.
        """
        from xlaflow.data.transforms import Zip
        kwargs.pop("name", None)
        if "datasets" in kwargs:  # TF's keyword
            datasets = (kwargs.pop("datasets"),) + datasets
        if kwargs or not datasets:
            raise TypeError(f"Dataset.zip: give datasets; unexpected arguments {sorted(kwargs)}")
        return Zip(datasets[0] if len(datasets) == 1 else tuple(datasets))

    @staticmethod
    def sample_from_datasets(datasets, weights=None, seed=None, stop_on_empty_dataset=False,
                             rerandomize_each_iteration=None):
        """Each element drawn from `datasets[i]` with probability `weights[i]` (uniform by
        default; a Dataset of weight vectors gives one vector per draw). An input that ends
        ends the result with `stop_on_empty_dataset`, else leaves the draw."""
        from xlaflow.data.sampling import SampleFromDatasets
        return SampleFromDatasets(datasets, weights, seed, stop_on_empty_dataset,
                                  rerandomize_each_iteration)

    @staticmethod
    def choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset=True):
        """Element k from `datasets[c]`, c the k-th (scalar int64) element of
        `choice_dataset`."""
        from xlaflow.data.sampling import ChooseFromDatasets
        return ChooseFromDatasets(datasets, choice_dataset, stop_on_empty_dataset)

    @staticmethod
    def load(path, element_spec=None, compression=None, reader_func=None):
        """Not implemented: TF's saved-dataset format is not provided (see `cache`)."""
        raise NotImplementedError(
            "Dataset.load is not implemented in xlaflow; write the pipeline with "
            "cache(filename): a pipeline built later with the same filename reads the file")

    # --- transformations ------------------------------------------------------------------

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """`map_func` applied to each element (a tuple element is passed as positional args).

        With `num_parallel_calls` (an int or AUTOTUNE) calls run on a thread pool, at most
        that many in flight; the output order is kept unless `deterministic=False`.
        element_spec is the first output's (exact shapes); every output must share its
        structure, dtypes and ranks -- sizes may vary (see `padded_batch`).
        """
        from xlaflow.data.mapping import Map
        return Map(self, map_func, num_parallel_calls, deterministic)

    def filter(self, predicate, name=None):
        """The elements for which `predicate` returns a scalar True."""
        from xlaflow.data.mapping import Filter
        return Filter(self, predicate)

    def flat_map(self, map_func, name=None):
        """The elements of the datasets `map_func` returns, one dataset after another."""
        from xlaflow.data.mapping import FlatMap
        return FlatMap(self, map_func)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None):
        """Elements drawn at random from a buffer of `buffer_size` (TF's algorithm)."""
        from xlaflow.data.shuffle import Shuffle
        return Shuffle(self, buffer_size, seed, reshuffle_each_iteration)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None,
              deterministic=None, name=None):
        """Consecutive elements stacked into batches of `batch_size` (the last may be short)."""
        from xlaflow.data.batching import Batch
        return Batch(self, batch_size, drop_remainder)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None,
                     drop_remainder=False, name=None):
        """Batches whose components are padded to a common shape (the batch's largest or
        `padded_shapes`) with `padding_values` (0 by default)."""
        from xlaflow.data.batching import PaddedBatch
        return PaddedBatch(self, batch_size, padded_shapes, padding_values, drop_remainder)

    def ragged_batch(self, batch_size, drop_remainder=False, row_splits_dtype="int64",
                     name=None):
        """Batches whose dense components of rank >= 1 become RaggedTensors, so their
        sizes may differ from element to element (TF's ragged_batch)."""
        from xlaflow.data.batching import Batch, DenseToRagged
        return Batch(DenseToRagged(self, row_splits_dtype), batch_size, drop_remainder)

    def unbatch(self, name=None):
        """Splits each element along its first dimension into elements (undoes batch)."""
        from xlaflow.data.unbatching import Unbatch
        return Unbatch(self)

    def repeat(self, count=None, name=None):
        """The dataset `count` times over (forever when None or -1)."""
        from xlaflow.data.transforms import Repeat
        return Repeat(self, count)

    def take(self, count, name=None):
        """The first `count` elements (all of them when -1)."""
        from xlaflow.data.transforms import Take
        return Take(self, count)

    def skip(self, count, name=None):
        """All but the first `count` elements (none when -1)."""
        from xlaflow.data.transforms import Skip
        return Skip(self, count)

    def cache(self, filename="", name=None):
        """Records the first complete pass in memory (or, given `filename`, in a file that
        pipelines built later read too); later passes replay it."""
        if filename:
            from xlaflow.data.filecache import FileCache
            return FileCache(self, filename)
        from xlaflow.data.transforms import Cache
        return Cache(self)

    def prefetch(self, buffer_size, name=None):
        """Produces up to `buffer_size` elements ahead on a background thread."""
        from xlaflow.data.prefetch import Prefetch
        return Prefetch(self, buffer_size)

    def concatenate(self, dataset, name=None):
        """This dataset's elements, then `dataset`'s (the structures must match)."""
        from xlaflow.data.transforms import Concatenate
        return Concatenate(self, dataset)

    def enumerate(self, start=0, name=None):
        """`(index, element)` pairs, the index an int64 counting from `start`."""
        from xlaflow.data.transforms import Enumerate
        return Enumerate(self, start)

    def assert_cardinality(self, expected_cardinality):
        """This dataset, whose cardinality() is `expected_cardinality`; a pass yielding
        another count raises xf.errors.FailedPreconditionError (as TF)."""
        from xlaflow.data.cardinality import AssertCardinality
        return AssertCardinality(self, expected_cardinality)

    def apply(self, transformation_func):
        """`transformation_func(self)`, for chaining custom transformations."""
        return transformation_func(self)

    def shard(self, num_shards, index, name=None):
        """Every `num_shards`-th element from element `index` on: one worker's part."""
        from xlaflow.data.transforms import Shard
        return Shard(self, num_shards, index)

    def take_while(self, predicate, name=None):
        """The elements up to the first for which `predicate` returns a scalar False."""
        from xlaflow.data.mapping import TakeWhile
        return TakeWhile(self, predicate)

    def interleave(self, map_func, cycle_length=None, block_length=None,
                   num_parallel_calls=None, deterministic=None, name=None):
        """The elements of the datasets `map_func` returns, `block_length` at a time from
        each of `cycle_length` open ones in turn (TF's order; None/AUTOTUNE opens 16)."""
        from xlaflow.data.interleave import Interleave
        return Interleave(self, map_func, cycle_length, block_length, num_parallel_calls,
                          deterministic)

    def window(self, size, shift=None, stride=1, drop_remainder=False, name=None):
        """Windows of `size` elements `stride` apart, one starting every `shift` (default
        `size`); each window is a Dataset (a structure of them for structured elements)."""
        from xlaflow.data.windows import Window
        return Window(self, size, shift, stride, drop_remainder)

    def scan(self, initial_state, scan_func, name=None):
        """The outputs of `scan_func(state, element) -> (new_state, output)`, the state
        carried from element to element, from `initial_state` on every pass."""
        from xlaflow.data.stateful import Scan
        return Scan(self, initial_state, scan_func)

    def unique(self, name=None):
        """Each distinct element once, in order of first occurrence (int32, int64 or
        string elements, as TF)."""
        from xlaflow.data.stateful import Unique
        return Unique(self)

    def rebatch(self, batch_size, drop_remainder=False, name=None):
        """The input batches' rows regrouped into batches of `batch_size` (a vector of
        sizes is cycled through): `unbatch().batch(batch_size)` without the per-row work."""
        from xlaflow.data.unbatching import Rebatch
        return Rebatch(self, batch_size, drop_remainder)

    def group_by_window(self, key_func, reduce_func, window_size=None, window_size_func=None,
                        name=None):
        """Elements grouped by the int64 `key_func(element)` into windows of `window_size`
        (or `window_size_func(key)`); each full window, then each partial one at the end
        (by increasing key), becomes the elements of `reduce_func(key, window_dataset)`."""
        from xlaflow.data.grouping import GroupByWindow
        return GroupByWindow(self, key_func, reduce_func, window_size, window_size_func)

    def bucket_by_sequence_length(self, element_length_func, bucket_boundaries,
                                  bucket_batch_sizes, padded_shapes=None, padding_values=None,
                                  pad_to_bucket_boundary=False, no_padding=False,
                                  drop_remainder=False, name=None):
        """Elements batched with others of similar `element_length_func(element)`: bucket i
        holds the lengths in [boundaries[i-1], boundaries[i]), batched (padded) by
        `bucket_batch_sizes[i]` -- group_by_window, as TF builds it."""
        from xlaflow.data.grouping import BucketBySequenceLength
        return BucketBySequenceLength(self, element_length_func, bucket_boundaries,
                                      bucket_batch_sizes, padded_shapes, padding_values,
                                      pad_to_bucket_boundary, no_padding, drop_remainder)

    def ignore_errors(self, log_warning=False, name=None):
        """The elements less those whose production raised (in map, filter, batch, ...);
        an error raised by a from_generator's generator ends the dataset (as TF)."""
        from xlaflow.data.errors import IgnoreErrors
        return IgnoreErrors(self, log_warning)

    def with_options(self, options, name=None):
        """This dataset with `options` (an xf.data.Options) set for the whole pipeline."""
        from xlaflow.data.options import WithOptions
        return WithOptions(self, options)

    def options(self):
        """The pipeline's Options: those of every with_options in it, merged (read-only)."""
        from xlaflow.data.options import pipeline_options
        return pipeline_options(self)

    def get_single_element(self, name=None):
        """The dataset's one element; an error if it has none or several (as TF)."""
        with contextlib.closing(iter(self)) as it:
            first = next(it, _NONE)
            if first is _NONE:
                raise ValueError("Dataset.get_single_element: the dataset is empty")
            if next(it, _NONE) is not _NONE:
                raise ValueError("Dataset.get_single_element: the dataset has more than one "
                                 "element")
        return first

    def __getattr__(self, name):
        advice = _NOT_IMPLEMENTED.get(name)
        if advice is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        raise NotImplementedError(f"Dataset.{name} is not implemented in xlaflow; {advice}")


_NONE = object()

# tf.data methods not provided here, with what to write instead.
_NOT_IMPLEMENTED = {
    "snapshot": "use cache()",
    "rejection_resample": "filter one dataset per class and combine them with "
                          "Dataset.sample_from_datasets(datasets, weights=target_dist)",
    "save": "use cache(filename), which writes a completed pass to a file that a pipeline "
            "built later with the same filename reads",
}
