"""`Dataset.group_by_window` and `bucket_by_sequence_length`: elements gathered into
per-key windows, each window reduced to a dataset by a function (TF's GroupByWindow).

Order (TF's GroupByWindowDatasetOp): a window is reduced, and its dataset's elements
yielded, as soon as it holds its key's window size; at the end of the input the partial
windows left are reduced in increasing key order (TF keeps them in a std::map).

Under ignore_errors an element whose production, key or window size failed is dropped
before it joins a window; a window whose reduce_func fails is dropped whole (TF would keep
the full window and grow it past its size); a failed element of a reduced dataset is
dropped, that dataset going on.
"""

from __future__ import annotations

import bisect

import numpy as np

from xlaflow.data import structure
from xlaflow.data.arguments import integer_argument, positive_argument
from xlaflow.data.dataset import UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.mapping import call, checked
from xlaflow.data.passes import OnePass, closing, peek_first, upstream
from xlaflow.data.windows import Elements, input_spec


def _integer_scalar(value, what, where):
    # TF wants an int64 scalar; NumPy elements often carry int32, which is widened here.
    array = np.asarray(value) if not isinstance(value, str) else None
    if array is None or array.shape != () or array.dtype.kind not in "iu":
        shown = getattr(value, "dtype", type(value).__name__)
        raise TypeError(f"Dataset.{what} must return an integer (int64) scalar; {where} it "
                        f"returned {shown} with shape {np.shape(value)}")
    return int(array)


def _called(fn, args, what, where):
    try:
        return fn(*args)
    except Exception as e:
        e.add_note(f"(raised by Dataset.{what} {where})")
        raise


class GroupByWindow(OnePass, Dataset):
    """`Dataset.group_by_window(key_func, reduce_func, window_size, window_size_func)`.

    `key_func(element)` gives an integer key; a key's window size is `window_size`, or
    `window_size_func(key)` (called once per key); `reduce_func(key, window)` gets the key
    as an int64 scalar and the window as a Dataset of its elements, and returns a Dataset.
    element_spec is the first reduced dataset's.
    """

    _spec_from_output = True  # element_spec is a first output's (passes.spec_from_output)

    _method = "group_by_window"

    def __init__(self, dataset, key_func, reduce_func, window_size=None,
                 window_size_func=None):
        what = self._method
        if (window_size is None) == (window_size_func is None):
            raise ValueError(f"Dataset.{what}: give exactly one of window_size and "
                             f"window_size_func; received window_size={window_size!r}, "
                             f"window_size_func={window_size_func!r}")
        functions = [("key_func", key_func), ("reduce_func", reduce_func)]
        if window_size_func is not None:
            functions.append(("window_size_func", window_size_func))
        for name, fn in functions:
            if not callable(fn):
                raise TypeError(f"Dataset.{what}: {name} must be callable; received "
                                f"{type(fn).__name__}")
        self._size = None if window_size is None else positive_argument(
            window_size, what, "window_size")
        self._input = dataset
        self._key_func, self._reduce_func = key_func, reduce_func
        self._size_func = window_size_func

    def _key(self, element, index):
        where = f"for element {index}"
        try:
            key = call(self._key_func, element)
        except Exception as e:
            e.add_note(f"(raised by the key_func of Dataset.{self._method} {where})")
            raise
        return _integer_scalar(key, f"{self._method}: key_func", where)

    def _window_size(self, key):
        if self._size is not None:
            return self._size
        where = f"for key {key}"
        size = _integer_scalar(_called(self._size_func, (np.int64(key),),
                                       f"{self._method}: window_size_func", where),
                               f"{self._method}: window_size_func", where)
        if size < 1:  # TF: "Window size must be greater than zero"
            raise ValueError(f"Dataset.{self._method}: window_size_func returned {size} "
                             f"{where}; a window size must be >= 1")
        return size

    def _windows(self, tolerant=False):
        """(key, elements) of each window, in TF's order (and, tolerant, each Failed)."""
        groups, sizes = {}, {}
        with upstream(self._input, tolerant) as it:
            for index, element in enumerate(it):
                if type(element) is Failed:
                    yield element
                    continue
                try:
                    key = self._key(element, index)
                    if key not in sizes:
                        sizes[key] = self._window_size(key)
                except Exception as e:
                    if not tolerant:
                        raise
                    yield Failed(e)
                    continue
                group = groups.setdefault(key, [])
                group.append(element)
                if len(group) == sizes[key]:
                    del groups[key]
                    yield key, group
        for key in sorted(groups):
            yield key, groups[key]

    def _reduce(self, key, elements, tolerant=False):
        where = f"for key {key}"
        spec = input_spec(self._input, elements[0], tolerant) if elements else \
            self._input.element_spec
        window = Elements(elements, spec)
        out = _called(self._reduce_func, (np.int64(key), window),
                      f"{self._method}: reduce_func", where)
        if not isinstance(out, Dataset):
            raise TypeError(f"Dataset.{self._method}: reduce_func must return a Dataset; "
                            f"{where} it returned {type(out).__name__}")
        return out

    def _pass(self, tolerant):
        template = None  # every reduced dataset's elements must look alike (batch relies on it)
        with closing(self._windows(tolerant)) as windows:
            for window in windows:
                if type(window) is Failed:
                    yield window
                    continue
                try:
                    reduced = self._reduce(*window, tolerant)
                except Exception as e:
                    if not tolerant:
                        raise
                    yield Failed(e)
                    continue
                with upstream(reduced, tolerant) as inner:
                    for out in inner:
                        try:
                            template = checked(out, template, f"Dataset.{self._method}",
                                               window[0])
                        except Exception as e:
                            if not tolerant:
                                raise
                            out = Failed(e)
                        yield out

    def _infer_spec(self):
        first = peek_first(self._windows)
        # An empty input has no window: reduce an empty one, as TF traces reduce_func.
        key, elements = first if first is not None else (0, [])
        return self._reduce(key, elements).element_spec

    def _cardinality(self):
        return UNKNOWN_CARDINALITY  # as TF: the windows depend on the keys


# TF's outer bucket bounds: the first bucket starts at int32's minimum, the last ends at its max.
_INT32 = np.iinfo(np.int32)
_FILL = object()  # a padded dimension TF fills with None: the bucket's boundary - 1 or longest


class BucketBySequenceLength(GroupByWindow):
    """`Dataset.bucket_by_sequence_length`, built on group_by_window as TF builds it.

    Bucket i holds the lengths in [bucket_boundaries[i-1], bucket_boundaries[i]) (the first
    from the int32 minimum, the last up to the int32 maximum) and is batched by
    bucket_batch_sizes[i] -- `padded_batch`, or `batch` with `no_padding`. A dimension that
    is None in `padded_shapes` (or, without them, in the element_spec) pads to the bucket's
    boundary - 1 with `pad_to_bucket_boundary`, else to the batch's longest. A map's
    element_spec has its first output's sizes: give `padded_shapes` (e.g. `[None]`) to mark
    the dimensions that vary.
    """

    _method = "bucket_by_sequence_length"

    def __init__(self, dataset, element_length_func, bucket_boundaries, bucket_batch_sizes,
                 padded_shapes=None, padding_values=None, pad_to_bucket_boundary=False,
                 no_padding=False, drop_remainder=False):
        what = self._method
        if not callable(element_length_func):
            raise TypeError(f"Dataset.{what}: element_length_func must be callable; received "
                            f"{type(element_length_func).__name__}")
        boundaries = [integer_argument(b, what, "bucket_boundaries") for b in
                      list(bucket_boundaries)]
        sizes = [positive_argument(s, what, "bucket_batch_sizes") for s in
                 list(bucket_batch_sizes)]
        if len(sizes) != len(boundaries) + 1:
            raise ValueError(f"Dataset.{what}: len(bucket_batch_sizes) must equal "
                             f"len(bucket_boundaries) + 1; received len(bucket_batch_sizes)="
                             f"{len(sizes)} and len(bucket_boundaries)={len(boundaries)}")
        if boundaries != sorted(boundaries):
            raise ValueError(f"Dataset.{what}: bucket_boundaries must be in increasing order; "
                             f"received {boundaries}")
        self._boundaries, self._sizes = boundaries, sizes
        self._length_func = element_length_func
        self._to_boundary, self._no_padding = bool(pad_to_bucket_boundary), bool(no_padding)
        self._drop, self._padding_values = bool(drop_remainder), padding_values
        if self._no_padding:  # as TF: padded_shapes and padding_values are then unused
            super().__init__(dataset, self._bucket, self._batch_window, None, self._window)
            return
        from xlaflow.data.batching import PaddedBatch
        spec = dataset.element_spec
        if padded_shapes is None:  # the spec's None dims vary; its known ones pad to longest
            self._dims = [None if s.shape is None else
                          [_FILL if d is None else None for d in s.shape]
                          for s in structure.flatten(spec)]
        else:
            self._dims = [None if shape is None else
                          [_FILL if d is None or int(d) == -1 else int(d) for d in shape]
                          for shape in structure.flatten_up_to(
                              spec, padded_shapes, f"Dataset.{what}: padded_shapes")]
        self._input = dataset
        # Checks the shapes' ranks and padding_values against the spec now (as TF does at
        # construction) and gives element_spec: batch and filled sizes vary, so None.
        self._spec = PaddedBatch(dataset, 1, self._padded_shapes(None), padding_values)._spec
        super().__init__(dataset, self._bucket, self._batch_window, None, self._window)

    def _bucket(self, *element):
        length = _integer_scalar(self._length_func(*element), f"{self._method}: "
                                 "element_length_func", "for an element")
        # Bucket i is [boundaries[i-1], boundaries[i]): with the boundaries sorted, the one
        # bucket that can hold `length` is the number of boundaries <= it (equal boundaries
        # make empty buckets, never chosen); only the first and last are clipped to int32.
        bucket = bisect.bisect_right(self._boundaries, length)
        if not ((bucket > 0 or length >= _INT32.min) and
                (bucket < len(self._boundaries) or length < _INT32.max)):
            raise ValueError(f"Dataset.{self._method}: element length {length} is in no bucket "
                             f"(lengths must be < {_INT32.max})")
        return bucket

    def _window(self, bucket):
        return self._sizes[int(bucket)]

    def _padded_shapes(self, filler):
        return structure.pack_as(self._input.element_spec, [
            None if dims is None else tuple(filler if d is _FILL else d for d in dims)
            for dims in self._dims])

    def _batch_window(self, bucket, window):
        bucket = int(bucket)
        size = self._sizes[bucket]
        if self._no_padding:
            return window.batch(size, drop_remainder=self._drop)
        filler = None
        if self._to_boundary:
            if bucket == len(self._boundaries):
                raise ValueError(
                    f"Dataset.{self._method}: when pad_to_bucket_boundary=True, elements "
                    f"must have length < bucket_boundaries[-1] ({self._boundaries[-1]}); "
                    "an element is longer")
            filler = self._boundaries[bucket] - 1
        return window.padded_batch(size, self._padded_shapes(filler), self._padding_values,
                                   drop_remainder=self._drop)

    def _infer_spec(self):  # with no_padding (else set at construction)
        return structure.with_leading(self._input.element_spec, None)
