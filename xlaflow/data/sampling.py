"""sample_from_datasets and choose_from_datasets: TF's directed interleave of several inputs.

Each output element comes from one input, picked at random by weight (sample) or by the next
index of a choice dataset (choose). An exhausted input ends the dataset (`stop_on_empty_
dataset`) or drops out of the draw, as TF's DirectedInterleave.
"""

from __future__ import annotations

import contextlib
import itertools
import threading

import numpy as np

from xlaflow.data import structure
from xlaflow.data.arguments import integer_argument
from xlaflow.data.dataset import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.iterator_state import pass_index
from xlaflow.data.passes import OnePass, upstream

_END = object()


def _inputs(datasets, what):
    """`datasets` as a tuple of Datasets and their common element_spec (checked now, as TF
    checks at construction)."""
    datasets = tuple(datasets) if isinstance(datasets, (list, tuple)) else None
    if not datasets or not all(isinstance(d, Dataset) for d in datasets):
        raise TypeError(f"Dataset.{what}: datasets must be a non-empty list of Datasets")
    spec = datasets[0].element_spec
    for d in datasets[1:]:
        common = structure.most_specific_common(spec, d.element_spec)
        if common is None:
            raise TypeError(
                f"Dataset.{what}: all datasets must have the same structure and dtypes; "
                f"received {structure.describe(spec)} and {structure.describe(d.element_spec)}")
        spec = common
    return datasets, spec


class _Directed(OnePass, Dataset):
    """A pass reading the inputs one element at a time, in the order `_picks` says."""

    def _pass(self, tolerant):
        with contextlib.ExitStack() as stack:
            its = [stack.enter_context(upstream(d, tolerant)) for d in self._inputs]
            active = [True] * len(its)
            picks = self._picks(active, stack, tolerant)
            for index in picks:
                if type(index) is Failed:
                    yield index
                    continue
                element = next(its[index], _END)
                if element is _END:
                    if self._stop_on_empty:
                        return
                    active[index] = False  # `_picks` sees it and draws among the others
                    if not any(active):
                        return
                    continue
                yield element

    def _infer_spec(self):
        return self._common_spec


class SampleFromDatasets(_Directed):
    """`Dataset.sample_from_datasets`: each element from input i with probability
    weights[i] (renormalized over the inputs not yet exhausted)."""

    def __init__(self, datasets, weights=None, seed=None, stop_on_empty_dataset=False,
                 rerandomize_each_iteration=None):
        self._inputs, self._common_spec = _inputs(datasets, "sample_from_datasets")
        n = len(self._inputs)
        if isinstance(weights, Dataset):
            self._weights_dataset, self._weights = weights, None
        else:
            w = np.full(n, 1.0 / n) if weights is None else \
                np.asarray(weights, dtype=np.float64).reshape(-1)
            if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum():
                raise ValueError(
                    f"Dataset.sample_from_datasets: weights must be {n} non-negative finite "
                    f"numbers, not all zero (one per dataset); received {weights!r}")
            self._weights_dataset, self._weights = None, w
        self._seeded = seed is not None  # a drawn seed is saved with an iterator's position
        self._seed = int(np.random.randint(2 ** 31 - 1)) if seed is None else \
            integer_argument(seed, "sample_from_datasets", "seed")
        self._stop_on_empty = bool(stop_on_empty_dataset)
        self._rerandomize = bool(rerandomize_each_iteration)
        self._passes = 0
        self._lock = threading.Lock()

    def _pass_index(self):
        # As shuffle: pass k draws from a generator seeded by (seed, k); without
        # rerandomize_each_iteration every pass repeats pass 0's draws (TF's default).
        return pass_index(self, self._rerandomize)

    def _picks(self, active, stack, tolerant):
        rng = np.random.default_rng([self._seed, self._pass_index()])
        if self._weights_dataset is None:
            weights = itertools.repeat(self._weights)  # the same weights for every draw
        else:
            weights = stack.enter_context(upstream(self._weights_dataset, tolerant))
        for w in weights:
            if type(w) is Failed:
                yield w
                continue
            w = np.where(active, np.asarray(w, dtype=np.float64).reshape(-1), 0.0)
            total = w.sum()
            if not total > 0:
                return  # only inputs of weight zero remain: none can ever be drawn
            yield int(min(np.searchsorted(np.cumsum(w), rng.random() * total, side="right"),
                          len(w) - 1))

    def _cardinality(self):
        counts = [d._cardinality() for d in self._inputs]
        if self._weights_dataset is not None and \
                self._weights_dataset._cardinality() != INFINITE_CARDINALITY:
            return UNKNOWN_CARDINALITY  # ends with the weights, or earlier
        if all(c == INFINITE_CARDINALITY for c in counts):
            return INFINITE_CARDINALITY
        if INFINITE_CARDINALITY in counts and not self._stop_on_empty:
            return INFINITE_CARDINALITY  # the endless input keeps being drawn
        return UNKNOWN_CARDINALITY


class ChooseFromDatasets(_Directed):
    """`Dataset.choose_from_datasets`: element k from the input that the k-th element of
    `choice_dataset` (a scalar int64 index) names."""

    def __init__(self, datasets, choice_dataset, stop_on_empty_dataset=True):
        self._inputs, self._common_spec = _inputs(datasets, "choose_from_datasets")
        if not isinstance(choice_dataset, Dataset):
            raise TypeError(f"Dataset.choose_from_datasets: choice_dataset must be a Dataset; "
                            f"received {type(choice_dataset).__name__}")
        spec = choice_dataset.element_spec
        if getattr(spec, "shape", None) != () or np.dtype(spec.dtype) != np.int64:
            raise TypeError(f"Dataset.choose_from_datasets: choice_dataset must have scalar "
                            f"int64 elements; received {structure.describe(spec)}")
        self._choices = choice_dataset
        self._stop_on_empty = bool(stop_on_empty_dataset)

    def _picks(self, active, stack, tolerant):
        n = len(self._inputs)
        for choice in stack.enter_context(upstream(self._choices, tolerant)):
            if type(choice) is Failed:
                yield choice
                continue
            index = int(choice)
            if not 0 <= index < n:
                raise ValueError(f"Dataset.choose_from_datasets: choice_dataset gave {index}, "
                                 f"outside [0, {n}) for {n} datasets")
            if active[index]:
                yield index

    def _cardinality(self):
        choices = self._choices._cardinality()
        if choices == 0:
            return 0
        if choices == INFINITE_CARDINALITY and all(
                d._cardinality() == INFINITE_CARDINALITY for d in self._inputs):
            return INFINITE_CARDINALITY
        return UNKNOWN_CARDINALITY
