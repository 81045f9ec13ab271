"""map, filter and flat_map: a user function per element, serially or on a thread pool.

The function runs in Python on NumPy values (no tracing), so its output structure is only
known by running it: the first output fixes it and every later output is checked.
"""

from __future__ import annotations

import collections
import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import numpy as np

from xlaflow.data import element_checks, ragged_elements, sparse_elements, structure
from xlaflow.data.arguments import integer_argument
from xlaflow.data.dataset import AUTOTUNE, UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.iterator import deterministic, thread_count
from xlaflow.data.passes import OnePass, peek_first, upstream
from xlaflow.ragged_spec import RaggedTensorSpec
from xlaflow.sparse_tensor import SparseTensorSpec


def call(fn, element):
    # As TF: an exact tuple is spread into positional arguments; a dict, a namedtuple or a
    # single array is passed as one argument.
    return fn(*element) if type(element) is tuple else fn(element)


def _note(error, what, index):
    # The user's exception keeps its type (code may catch it); the note says where it hit.
    error.add_note(f"(raised by the function of Dataset.{what} on element {index})")
    return error


def parallelism(num_parallel_calls):
    if num_parallel_calls == AUTOTUNE:
        # Threads help when the function releases the GIL (NumPy, I/O, decoding); one per
        # core is what TF's autotuner converges to for CPU-bound work.
        return os.cpu_count() or 1
    n = integer_argument(num_parallel_calls, "map", "num_parallel_calls")
    if n < 1:
        raise ValueError(f"num_parallel_calls must be a positive int or AUTOTUNE; "
                         f"received {num_parallel_calls}")
    return n


class Map(OnePass, Dataset):
    """`Dataset.map`: the function's outputs, in input order (unless deterministic=False).

    element_spec is the spec of the first output, shapes exact. Later outputs must have the
    same structure, dtypes and ranks (an error names the element otherwise) but their sizes
    may differ -- a data-dependent shape, which TF would report as None; `batch` then
    reports the mismatch and `padded_batch` pads it.
    """

    _spec_from_output = True  # element_spec is a first output's (passes.spec_from_output)

    def __init__(self, dataset, fn, num_parallel_calls, deterministic):
        if not callable(fn):
            raise TypeError(f"Dataset.map: map_func must be callable; received "
                            f"{type(fn).__name__}")
        self._input = dataset
        self._fn = fn
        self._workers = None if num_parallel_calls is None else parallelism(num_parallel_calls)
        # None: the pipeline's Options.deterministic decides, ordered by default (as TF).
        self._deterministic = deterministic

    def _apply(self, element, index):
        try:
            out = call(self._fn, element)
        except Exception as e:  # noqa: BLE001  (re-raised unchanged, with a note)
            raise _note(e, "map", index)
        if out is None:
            raise TypeError(f"Dataset.map: the function returned None for element {index}; "
                            "it must return arrays (or a tuple/dict of them)")
        if isinstance(out, list):
            out = tuple(out)  # as TF: a returned list is a tuple of components
        try:
            return structure.normalize(out)
        except TypeError as e:
            raise TypeError(f"Dataset.map: element {index}: the function returned "
                            f"{structure.describe(out)}: {e}") from None

    def _pass(self, tolerant):
        # Tolerant, a failed call is one Failed element; the pass goes on with the next input.
        return self._serial(tolerant) if self._workers is None else self._parallel(tolerant)

    def _serial(self, tolerant=False):
        template = None
        with upstream(self._input, tolerant) as it:
            for index, element in enumerate(it):
                if type(element) is not Failed:
                    try:
                        out = self._apply(element, index)
                        template = checked(out, template, "Dataset.map", index)
                        element = out
                    except Exception as e:
                        if not tolerant:
                            raise
                        element = Failed(e)  # handed to ignore_errors
                yield element

    def _parallel(self, tolerant=False):
        # The input is read on the consumer's thread (stages need not be thread-safe); only
        # calls of the function go to the pool, at most `workers` submitted and not yet
        # consumed, so a slow consumer bounds the work done ahead.
        workers = thread_count(self._workers)
        ordered = deterministic(self._deterministic)
        pool = ThreadPoolExecutor(workers, thread_name_prefix="xf.data.map")
        pending = collections.deque()
        template = None
        try:
            with upstream(self._input, tolerant) as it:
                source = enumerate(it)
                failed = [False]

                def submit():
                    if failed[0]:
                        return
                    try:
                        item = next(source, None)
                    except Exception as exc:  # noqa: BLE001  (re-raised by the consumer)
                        # The input failed: raised in order, after the outputs of the
                        # elements it produced before (as TF), not ahead of them.
                        failed[0] = True
                        future = Future()
                        future.set_exception(exc)
                        pending.append((None, future))
                        return
                    if item is not None and type(item[1]) is Failed:  # tolerant input
                        future = Future()
                        future.set_result(item[1])
                        pending.append((item[0], future))
                    elif item is not None:
                        pending.append((item[0], pool.submit(self._apply, item[1], item[0])))

                for _ in range(workers):
                    submit()
                while pending:
                    if ordered:
                        index, future = pending.popleft()
                    else:  # whichever finished first; ties go to the earliest input
                        # (the input's own failure, last in line, only once nothing is left)
                        done, _ = wait([f for i, f in pending if i is not None] or
                                       [pending[0][1]], return_when=FIRST_COMPLETED)
                        pick = next(k for k, (_, f) in enumerate(pending) if f in done)
                        index, future = pending[pick]
                        del pending[pick]
                    submit()  # refill before blocking, so the pool stays busy
                    try:
                        out = future.result()
                        template = checked(out, template, "Dataset.map", index)
                    except Exception as e:
                        if not tolerant:
                            raise
                        out = Failed(e)  # handed to ignore_errors; the pass goes on
                    yield out
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _infer_spec(self):
        try:
            first = peek_first(self._serial)
        except Exception as e:
            e.add_note("(while inferring the element_spec of Dataset.map from its first "
                       "output; over a first element that fails, apply ignore_errors() to "
                       "the map before a stage that needs the spec when built, such as "
                       "padded_batch, unbatch or concatenate)")
            raise
        if first is None:
            # An empty input gives no output to look at: like TF's tracing on the input
            # spec, run the function once on zeros (unknown sizes taken as 0).
            zeros = structure.map_structure(
                lambda s: sparse_elements.empty(s) if isinstance(s, SparseTensorSpec) else
                ragged_elements.empty(s) if isinstance(s, RaggedTensorSpec) else
                np.zeros([d or 0 for d in s.shape or ()], s.dtype)[()],
                self._input.element_spec)
            try:
                first = self._apply(zeros, 0)
            except Exception as e:
                raise ValueError("Dataset.map: cannot infer element_spec: the input is empty "
                                 "and the function fails on zeros of its spec") from e
        return structure.spec_of(first)

    def _cardinality(self):
        return self._input._cardinality()


def checked(element, template, what, index):
    """The Template of a pass's elements: made from its first, which later ones must
    match (an error names the element `index` otherwise). A Failed is left unchecked."""
    if type(element) is Failed:
        return template
    if template is None:
        return element_checks.Template(element)
    template.check(element, what, index)
    return template


def _holds(predicate, element, what, index):
    """`predicate(element)`, which must be a scalar bool; errors name the element."""
    try:
        keep = call(predicate, element)
    except Exception as e:  # noqa: BLE001  (re-raised, with a note)
        raise _note(e, what, index)
    flag = np.asarray(keep)
    if flag.shape != () or flag.dtype != np.bool_:
        raise TypeError(f"Dataset.{what}: the predicate must return a scalar bool; for element "
                        f"{index} it returned dtype {flag.dtype.name} with shape {flag.shape}")
    return bool(flag)


class Filter(OnePass, Dataset):
    """`Dataset.filter`: the elements whose predicate is a scalar True."""

    def __init__(self, dataset, predicate):
        if not callable(predicate):
            raise TypeError("Dataset.filter: predicate must be callable")
        self._input = dataset
        self._predicate = predicate

    def _pass(self, tolerant):
        with upstream(self._input, tolerant) as it:
            for index, element in enumerate(it):
                if type(element) is not Failed:
                    try:
                        if not _holds(self._predicate, element, "filter", index):
                            continue
                    except Exception as e:
                        if not tolerant:
                            raise
                        element = Failed(e)  # handed to ignore_errors
                yield element

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        return UNKNOWN_CARDINALITY  # as TF: how many pass is known only by running it


class TakeWhile(OnePass, Dataset):
    """`Dataset.take_while`: the elements up to (not including) the first whose predicate
    is a scalar False."""

    def __init__(self, dataset, predicate):
        if not callable(predicate):
            raise TypeError("Dataset.take_while: predicate must be callable")
        self._input = dataset
        self._predicate = predicate

    def _pass(self, tolerant):
        with upstream(self._input, tolerant) as it:
            for index, element in enumerate(it):
                if type(element) is not Failed:
                    try:
                        if not _holds(self._predicate, element, "take_while", index):
                            return
                    except Exception as e:
                        if not tolerant:
                            raise
                        # A failed predicate drops its element and the pass goes on (as TF's).
                        element = Failed(e)
                yield element

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        return UNKNOWN_CARDINALITY


class FlatMap(OnePass, Dataset):
    """`Dataset.flat_map`: the function maps each element to a Dataset; their elements follow
    one another. (Interleave, in interleave.py, shares how inner datasets are made.)"""

    _spec_from_output = True  # element_spec is a first output's (passes.spec_from_output)

    _method = "flat_map"  # the Dataset method, for messages

    def __init__(self, dataset, fn):
        self._input = dataset
        self._fn = fn

    def _inner(self, element, index):
        try:
            inner = call(self._fn, element)
        except Exception as e:  # noqa: BLE001  (re-raised, with a note)
            raise _note(e, self._method, index)
        if not isinstance(inner, Dataset):
            raise TypeError(f"Dataset.{self._method}: the function must return a Dataset; "
                            f"for element {index} it returned {type(inner).__name__}")
        return inner

    def _pass(self, tolerant):
        # The inner datasets' elements must all look alike (batch relies on it); an error
        # names the input element whose dataset differs. Tolerant, as TF's flat_map: a
        # failed input element, or a failed call of the function, opens no inner dataset,
        # and a failed inner element is dropped, the inner dataset going on.
        template = None
        with upstream(self._input, tolerant) as it:
            for index, element in enumerate(it):
                if type(element) is Failed:
                    yield element
                    continue
                try:
                    inner_dataset = self._inner(element, index)
                except Exception as e:
                    if not tolerant:
                        raise
                    yield Failed(e)
                    continue
                with upstream(inner_dataset, tolerant) as inner:
                    for out in inner:
                        try:
                            template = checked(out, template, "Dataset.flat_map", index)
                        except Exception as e:
                            if not tolerant:
                                raise
                            out = Failed(e)
                        yield out

    def _infer_spec(self):
        def first_inner():
            with upstream(self._input) as it:
                for element in it:
                    yield self._inner(element, 0)
                    return
        inner = peek_first(first_inner)
        if inner is None:
            raise ValueError(f"Dataset.{self._method}: cannot infer element_spec of an empty "
                             "input")
        return inner.element_spec

    def _cardinality(self):
        return UNKNOWN_CARDINALITY
