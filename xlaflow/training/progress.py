"""Keras-style progress display for fit/evaluate/predict.

The line is redrawn in place (a terminal, or a Jupyter output cell, which honours carriage
returns) at most every `interval` seconds, and only then are the metric values copied from
the device: a step never waits for the host because of the display.
"""

from __future__ import annotations

import sys
import time


def _interactive(stream):
    return "ipykernel" in sys.modules or (hasattr(stream, "isatty") and stream.isatty())


def format_logs(values):
    return " - ".join(f"{k}: {v:.4f}" for k, v in values.items())


class Progbar:
    """`step/steps [=====>....] - ETA: 3s - loss: 0.2 - accuracy: 0.9`; verbose=2 prints
    only the final line of each epoch."""

    def __init__(self, target, verbose=1, interval=0.2, stream=None, width=30):
        self.target, self.verbose, self.interval, self.width = target, verbose, interval, width
        self.stream = stream or sys.stdout
        self.dynamic = _interactive(self.stream)
        self.start = time.perf_counter()
        self.last_draw = 0.0

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
        values = {k: float(v) for k, v in logs.items()}  # the only device-to-host copy
        line = self._line(step, values, now - self.start, final)
        if self.dynamic and self.verbose == 1:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _line(self, step, values, elapsed, final):
        if self.target:
            done = int(self.width * step / self.target)
            bar = "=" * max(done - 1, 0) + (">" if done < self.width else "=")
            head = f"{step:{len(str(self.target))}d}/{self.target} [{bar:<{self.width}s}]"
        else:
            head = f"{step}"
        if final or not self.target:
            per_step = elapsed / max(step, 1)
            unit = f"{per_step * 1e3:.0f}ms" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us"
            timing = f"{elapsed:.0f}s {unit}/step"
        else:
            timing = f"ETA: {elapsed / max(step, 1) * (self.target - step):.0f}s"
        logs = format_logs(values)
        return f"{head} - {timing}" + (f" - {logs}" if logs else "")
