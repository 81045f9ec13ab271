"""scan and unique: transformations whose output depends on the elements before.

Each pass starts from a fresh state (scan's `initial_state`, unique's empty set of seen
values), so a dataset stays re-iterable with the same elements every time.
"""

from __future__ import annotations

import numpy as np

from xlaflow.data import element_checks, structure
from xlaflow.data.dataset import UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.mapping import checked
from xlaflow.data.passes import OnePass, peek_first, upstream
from xlaflow.ragged_spec import RaggedTensorSpec
from xlaflow.sparse_tensor import SparseTensorSpec
from xlaflow.tensors import TensorSpec


class Scan(OnePass, Dataset):
    """`Dataset.scan`: `scan_func(state, element) -> (new_state, output)` over the elements,
    yielding the outputs, from `initial_state` at the start of every pass.

    The new state must keep the initial state's structure and dtypes (TF's rule; a Python
    number is taken in the state's dtype); its shapes may change. The element is passed as
    one argument, a tuple element included (TF calls `scan_func(state, element)`). Outputs
    are checked like map's: the first fixes structure, dtypes and ranks. Under
    ignore_errors a failed element, or a failed call, leaves the state as it was (TF's).
    """

    _spec_from_output = True  # element_spec is a first output's (passes.spec_from_output)

    def __init__(self, dataset, initial_state, scan_func):
        if not callable(scan_func):
            raise TypeError(f"Dataset.scan: scan_func must be callable; received "
                            f"{type(scan_func).__name__}")
        if isinstance(initial_state, list):
            initial_state = tuple(initial_state)  # as TF: a list is a tuple of components
        try:
            self._initial = structure.normalize(initial_state)
        except TypeError as e:
            raise TypeError(f"Dataset.scan: initial_state must be arrays (or a tuple/dict of "
                            f"them); received {initial_state!r:.80}: {e}") from None
        # Only structure and dtypes are fixed: TF relaxes the state's shape when it changes.
        self._state_spec = structure.map_structure(lambda s: TensorSpec(None, s.dtype),
                                                   structure.spec_of(self._initial))
        self._input = dataset
        self._fn = scan_func

    def _step(self, state, element, index):
        try:
            result = self._fn(state, element)
        except Exception as e:  # re-raised unchanged, with a note
            e.add_note(f"(raised by the function of Dataset.scan on element {index})")
            raise
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(f"Dataset.scan: scan_func must return a pair (new_state, output); "
                            f"for element {index} it returned {result!r:.80}")
        new_state, out = result
        if isinstance(new_state, list):
            new_state = tuple(new_state)
        if structure.signature(new_state) != structure.signature(self._initial):
            raise TypeError(
                f"Dataset.scan: the new state returned for element {index} has structure "
                f"{structure.describe(new_state)} but initial_state has "
                f"{structure.describe(self._initial)}; the state must keep its structure")
        state_paths = structure.paths(self._initial)
        for path, have, want in zip(state_paths, structure.flatten(new_state),
                                    structure.flatten(self._initial)):
            if hasattr(have, "dtype") and not structure.same_dtype(have.dtype, want.dtype):
                raise TypeError(
                    f"Dataset.scan: the new state{structure.where(path)} returned for element "
                    f"{index} has dtype {np.dtype(have.dtype).name} but initial_state's is "
                    f"{want.dtype.name}; the state must keep its dtypes (cast it)")
        new_state = element_checks.conform(new_state, self._state_spec, "Dataset.scan: new state",
                                      index)
        if isinstance(out, list):
            out = tuple(out)
        try:
            out = structure.normalize(out)
        except TypeError as e:
            raise TypeError(f"Dataset.scan: element {index}: the function returned output "
                            f"{structure.describe(out)}: {e}") from None
        return new_state, out

    def _pass(self, tolerant):
        state = self._initial
        template = None
        with upstream(self._input, tolerant) as it:
            for index, element in enumerate(it):
                if type(element) is not Failed:
                    try:
                        new_state, out = self._step(state, element, index)
                        template = checked(out, template, "Dataset.scan", index)
                        state, element = new_state, out
                    except Exception as e:
                        if not tolerant:
                            raise
                        element = Failed(e)
                yield element

    def _infer_spec(self):
        first = peek_first(self._iterate)
        if first is None:
            # An empty input: as map does, run the function once on zeros of the input spec.
            zeros = structure.map_structure(
                lambda s: np.zeros([d or 0 for d in s.shape or ()], s.dtype)[()],
                self._input.element_spec)
            try:
                first = self._step(self._initial, zeros, 0)[1]
            except Exception as e:
                raise ValueError("Dataset.scan: cannot infer element_spec: the input is empty "
                                 "and the function fails on zeros of its spec") from e
        return structure.spec_of(first)

    def _cardinality(self):
        return self._input._cardinality()  # one output per element, as TF


class Unique(OnePass, Dataset):
    """`Dataset.unique`: each distinct element once, at its first occurrence.

    As TF, only single-component int32, int64 or string elements are accepted; elements
    of any shape compare by shape and values. The seen values are held in memory.
    """

    def __init__(self, dataset):
        spec = dataset.element_spec
        if isinstance(spec, (tuple, dict)):
            raise TypeError(f"Dataset.unique: the elements must be a single component; "
                            f"received element_spec {structure.describe(spec)}")
        if isinstance(spec, SparseTensorSpec):  # TF's unique takes dense tensors only
            raise TypeError(f"Dataset.unique: the elements must be dense tensors; received "
                            f"{spec}: map them through xf.sparse.to_dense first")
        if isinstance(spec, RaggedTensorSpec):
            raise TypeError(f"Dataset.unique: the elements must be dense tensors; received "
                            f"{spec}: map them through to_tensor() first")
        if not (spec.dtype in (np.int32, np.int64) or spec.dtype.kind in "USO"):
            raise TypeError(f"Dataset.unique: the elements must be int32, int64 or strings "
                            f"(as TF); received dtype {spec.dtype.name} ({spec})")
        self._input = dataset
        self._spec = spec

    def _pass(self, tolerant):
        seen = set()
        with upstream(self._input, tolerant) as it:
            for element in it:
                if type(element) is Failed:
                    yield element  # as TF's unique: passed on, and nothing is seen
                    continue
                key = (np.shape(element), tuple(np.ravel(element).tolist()))
                if key not in seen:
                    seen.add(key)
                    yield element

    def _cardinality(self):
        return UNKNOWN_CARDINALITY  # as TF: how many are distinct is known by running it
