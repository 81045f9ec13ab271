"""`Dataset.ignore_errors` (TF's): the elements whose production raised are dropped.

TF's iterators survive an error: the next GetNext goes on with the next input element. A
Python generator is finished once it raises, so every stage provides `_iterate_or_fail`,
a pass that yields a `Failed` in place of each failed element and carries on. A stage
that only chooses or reorders elements (take, skip, shard, shuffle, interleave...) treats
a failed element as absent, as TF's do (its error is returned before the stage counts it);
batch-like stages lose the batch it interrupts; window, zip and enumerate keep positions (a
window or zipped element holding a failed element fails). Each stage's module or class
docstring says which.

A from_generator whose generator raises ends there too, in TF as here: the generator is
finished (its next `next()` is StopIteration). An element it yields that does not match
the signature is an error of the dataset, not of the generator: it is dropped and the
generator goes on.
"""

from __future__ import annotations

import logging

from xlaflow.data import structure
from xlaflow.data.dataset import UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.options import _inputs_of
from xlaflow.data.passes import peek_first, upstream

_log = logging.getLogger("xlaflow.data")


class Failed:
    """Stands for an element whose production raised `error`, in a tolerant pass."""

    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error


def ended_by_error(dataset):
    """A source's tolerant pass: `dataset`'s pass, an error ending it as one Failed."""
    with upstream(dataset) as gen:
        while True:
            try:
                element = next(gen)
            except StopIteration:
                return
            except Exception as error:  # noqa: BLE001  (handed to ignore_errors)
                yield Failed(error)
                return
            yield element


def _check_tolerant(dataset):
    """Refuse, when ignore_errors is applied, a pipeline with a stage that has no tolerant
    pass: the default one would end the pass at the first error, silently."""
    seen, todo = set(), [dataset]
    while todo:
        stage = todo.pop()
        if id(stage) in seen:
            continue
        seen.add(id(stage))
        inputs = _inputs_of(stage)
        if inputs and type(stage)._iterate_or_fail is Dataset._iterate_or_fail:
            raise NotImplementedError(
                f"Dataset.ignore_errors: the stage {type(stage).__name__} cannot drop a failed "
                "element and go on; apply ignore_errors() before that stage instead")
        todo.extend(inputs)


class IgnoreErrors(Dataset):
    """`Dataset.ignore_errors(log_warning)`: the input's elements, less those whose
    production raised an Exception (KeyboardInterrupt and the like still propagate); with
    `log_warning`, each is logged to the `xlaflow.data` logger, as TF logs it."""

    def __init__(self, dataset, log_warning=False):
        if not isinstance(log_warning, bool):
            raise TypeError(f"Dataset.ignore_errors: log_warning must be a bool; received "
                            f"{log_warning!r}")
        _check_tolerant(dataset)
        self._input = dataset
        self._log = log_warning

    def _iterate(self):
        with upstream(self._input, tolerant=True) as it:
            for element in it:
                if type(element) is Failed:
                    if self._log:
                        _log.warning("Dataset.ignore_errors: dropped an element: %s: %s",
                                     type(element.error).__name__, element.error)
                    continue
                yield element

    def _iterate_or_fail(self):
        return self._iterate()  # nothing fails through it

    def _infer_spec(self):
        try:
            return self._input.element_spec
        except Exception:
            # The input's spec comes from its first element (a map's first output), which
            # may be one that fails: take the first that survives.
            first = peek_first(self._iterate)
            if first is None:
                raise
            return structure.spec_of(first)

    def _cardinality(self):
        return UNKNOWN_CARDINALITY  # as TF: how many survive is known only by running it
