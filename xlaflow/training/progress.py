"""Keras-style progress display for fit/evaluate/predict.

The line is redrawn in place at most every `interval` seconds, and only then are the metric
values copied from the device: a step never waits for the host because of the display.
Where it is drawn:

- in a Jupyter kernel (writing to its stdout): one display per bar, made with
  `IPython.display.display(..., display_id=True)` and updated in place, so the cell (and
  the saved notebook) holds one line per epoch, not one per redraw;
- on a terminal: the line is rewritten after a carriage return;
- anywhere else (a pipe, a log file, CI): only the final line, once per epoch.
"""

from __future__ import annotations

import html
import math
import sys
import time

import numpy as np


def in_notebook():
    """True inside a Jupyter (IPython) kernel: a terminal IPython has no `kernel`."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _interactive(stream):
    return hasattr(stream, "isatty") and stream.isatty()


class _NotebookLine:
    """One display in a Jupyter output area, replaced by each `draw`: text/plain for
    consoles and saved notebooks, text/html (<pre>, so the bar keeps its width) for the
    notebook front ends."""

    def __init__(self):
        self.handle = None

    def draw(self, line):
        from IPython.display import display
        bundle = {"text/plain": line,
                  "text/html": f"<pre style='margin: 0'>{html.escape(line)}</pre>"}
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)


def host_value(value):
    """A log value on the host: a Python float, or a NumPy array for a metric with one
    value per class (F1Score(average=None)), which Keras' logs keep as an array."""
    value = np.asarray(value)
    return float(value) if value.ndim == 0 else value


def format_logs(values):
    """Keras 2's `name: value` pairs: 4 decimals above 1e-3, else 4 significant digits
    (a loss of 2e-5, or a negative one, reads 2.0000e-05 rather than 0.0000); an array
    (a per-class metric) shows its mean."""
    return " - ".join(f"{k}: {_number(np.mean(v))}" for k, v in values.items())


def _number(value):
    return f"{value:.4f}" if value > 1e-3 else f"{value:.4e}"


def format_time(seconds, unit):
    """Keras 2's time per `unit`: whole seconds from 1 s (and for 0), else ms, else us."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class Progbar:
    """`step/steps [=====>....] - ETA: 3s - loss: 0.2 - accuracy: 0.9`; verbose=2 prints
    only each epoch's final line, as Keras 2: `32/32 - 1s - loss: 0.2 - 610ms/epoch -
    19ms/step`."""

    def __init__(self, target, verbose=1, interval=0.2, stream=None, width=30):
        self.target, self.verbose, self.interval, self.width = target, verbose, interval, width
        self.stream = stream or sys.stdout
        # A notebook display only for the kernel's own stdout: a stream passed in (a file,
        # a StringIO) gets text, as everywhere else.
        self.notebook = _NotebookLine() if self.stream is sys.stdout and in_notebook() \
            else None
        self.dynamic = self.notebook is not None or _interactive(self.stream)
        self.start = time.perf_counter()
        # -inf, not 0: perf_counter counts from boot, so a machine up for less than
        # `interval` seconds would otherwise skip the first draw.
        self.last_draw = -math.inf

    def update(self, step, logs, final=False, names=None):
        """Called after each step with the logs (device values); draws when due. `names`
        turns raw step results into named logs, only when a line is drawn."""
        now = time.perf_counter()
        if not self.verbose or (self.verbose == 2 and not final) or not (
                final or (self.dynamic and now - self.last_draw >= self.interval)):
            return
        self.last_draw = now
        if names is not None:
            logs = names(logs)
        values = {k: host_value(v) for k, v in logs.items()}  # the only host copy
        line = self._line(step, values, now - self.start, final)
        if self.notebook is not None and self.verbose == 1:
            self.notebook.draw(line)
            return
        if self.dynamic and self.verbose == 1:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _line(self, step, values, elapsed, final):
        logs = format_logs(values)
        if self.verbose == 2:
            steps = self.target or step
            return (f"{step:{len(str(steps))}d}/{steps} - {elapsed:.0f}s"
                    + (f" - {logs}" if logs else "")
                    + f" - {format_time(elapsed, 'epoch')}"
                    + f" - {format_time(elapsed / max(steps, 1), 'step')}")
        if self.target:
            done = int(self.width * step / self.target)
            bar = "=" * max(done - 1, 0) + (">" if done < self.width else "=")
            head = f"{step:{len(str(self.target))}d}/{self.target} [{bar:<{self.width}s}]"
        else:
            head = f"{step}"
        if final or not self.target:
            timing = f"{elapsed:.0f}s {format_time(elapsed / max(step, 1), 'step')}"
        else:
            timing = f"ETA: {elapsed / max(step, 1) * (self.target - step):.0f}s"
        return f"{head} - {timing}" + (f" - {logs}" if logs else "")
