"""Input that runs out before the steps asked of it: Keras 2's warning and how many ran.

Keras 2 (DataHandler.catch_stop_iteration) does not raise when fit, evaluate or predict
reads fewer batches than `steps_per_epoch * epochs` (or `steps`): it logs a WARNING and
stops, keeping what ran. The warning goes to the `xlaflow.training` logger, not
`warnings`: Keras logs it (absl), and a Python warning would fail suites run as errors.
"""

from __future__ import annotations

import logging

_log = logging.getLogger("xlaflow.training")


def warn(batches):
    """Log Keras 2's warning; `batches` is epochs * steps, the batches that were asked for
    (the epochs this fit runs: `epochs - initial_epoch`; 1 for evaluate and predict)."""
    _log.warning(
        "Your input ran out of data; interrupting training. Make sure that your dataset "
        "or generator can generate at least `steps_per_epoch * epochs` batches (in this "
        "case, %d batches). You may need to use the repeat() function when building your "
        "dataset.", batches)


def announced(batches, steps, begin=None):
    """(step, batch) for `batches`, `steps` of them at most (None: all), calling
    `begin(step)` before each read, as Keras 2 calls on_*_batch_begin before the step that
    reads: a read that finds the input ended follows a begin that has no end."""
    iterator = iter(batches)
    step = 0
    while steps is None or step < steps:
        if begin is not None:
            begin(step)
        item = next(iterator, _END)
        if item is _END:
            return
        yield step, item
        step += 1


_END = object()


def fell_short(done, expected):
    """Whether a pass that ran `done` steps ended before the `expected` ones (None: an
    input of unknown length, whose first pass sets the length instead)."""
    return expected is not None and done < expected
