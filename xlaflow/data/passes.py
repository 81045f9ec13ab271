"""How a Dataset stage opens, closes and peeks passes over its input.

Every transformation reads its input through these: a pass is a generator that must be
closed promptly (upstream threads stop when it closes), and a peek for element_spec must
not count as an iteration for stateful stages.
"""

from __future__ import annotations

import contextlib
import contextvars

# Set while `element_spec` is inferred by running a pass up to its first element (map's
# spec comes from its first output): stateful stages (shuffle's epoch counter) must not
# count such a peek as an iteration.
peeking = contextvars.ContextVar("xf_data_peeking", default=False)


@contextlib.contextmanager
def closing(it):
    """`it`, closed on exit when it has a `close` (a generator pass, a user's generator);
    a plain iterator (a list's, row numbers) has nothing to close."""
    try:
        yield it
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def open_pass(dataset, tolerant=False):
    """A fresh pass over `dataset`: with `tolerant`, the ignore_errors pass (a failed
    element comes as `errors.Failed`), else the plain one. The caller closes it."""
    return dataset._iterate_or_fail() if tolerant else dataset._iterate()


def upstream(dataset, tolerant=False):
    """`open_pass(dataset, tolerant)`, closed on exit however the consumer leaves.

    Closing promptly matters: a prefetch or parallel map upstream stops its threads when
    its generator closes, and an exception's traceback could otherwise keep it alive.
    """
    return closing(open_pass(dataset, tolerant))


class OnePass:
    """Mixin, before Dataset in the bases, for a stage whose plain and ignore_errors
    passes are one `_pass(tolerant)`: `_iterate` and `_iterate_or_fail` call it."""

    def _iterate(self):
        return self._pass(tolerant=False)

    def _iterate_or_fail(self):
        return self._pass(tolerant=True)


def peek_first(dataset_iterate):
    """The first element of a pass (None if the pass is empty), without counting as an
    iteration for stateful stages (see `peeking`)."""
    token = peeking.set(True)
    try:
        gen = dataset_iterate()
        try:
            return next(gen, None)
        finally:
            gen.close()
    finally:
        peeking.reset(token)


def spec_from_output(dataset):
    """Whether `dataset`'s element_spec was read off its first output (map, flat_map, scan,
    group_by_window), through stages that pass the spec on unchanged: its sizes are then
    that element's, where TF's traced spec may say None."""
    while not getattr(type(dataset), "_spec_from_output", False):
        inner = getattr(dataset, "_input", None)
        if inner is None or dataset.element_spec is not inner.element_spec:
            return False
        dataset = inner
    return True
