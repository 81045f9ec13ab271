"""`Dataset.assert_cardinality`: a count the pipeline cannot infer (a generator's, a
filter's), declared by the user and checked as the elements pass, as TF checks it."""

from __future__ import annotations

from xlaflow.data.arguments import integer_argument
from xlaflow.data.dataset import INFINITE_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.passes import OnePass, upstream
from xlaflow.errors import FailedPreconditionError


class AssertCardinality(OnePass, Dataset):
    """The input's elements; cardinality() reports `expected`, and a pass that yields more
    or fewer raises FailedPreconditionError (at the first extra element, or at the end)."""

    def __init__(self, dataset, expected):
        expected = integer_argument(expected, "assert_cardinality", "expected_cardinality")
        if expected < INFINITE_CARDINALITY:
            raise ValueError(f"Dataset.assert_cardinality: expected_cardinality must be >= 0 "
                             f"or INFINITE_CARDINALITY (-1); received {expected}")
        self._input, self._expected = dataset, expected

    def _pass(self, tolerant):
        count = 0
        with upstream(self._input, tolerant) as it:
            for element in it:
                if type(element) is not Failed:
                    count += 1
                    if self._expected != INFINITE_CARDINALITY and count > self._expected:
                        raise FailedPreconditionError(None, None, (
                            f"Input dataset was expected to contain {_elements(self._expected)} "
                            f"but contained at least {_elements(count)}."))
                yield element
        if self._expected == INFINITE_CARDINALITY or count < self._expected:
            expected = ("an infinite number of elements"
                        if self._expected == INFINITE_CARDINALITY else _elements(self._expected))
            raise FailedPreconditionError(None, None, (
                f"Input dataset was expected to contain {expected} but contained only "
                f"{_elements(count)}."))

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        return self._expected


def _elements(n):
    return f"{n} element" if n == 1 else f"{n} elements"
