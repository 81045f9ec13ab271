"""tf.profiler.experimental on JAX's profiler: `start(logdir)`/`stop()` around the code to
trace, `Trace` annotations of steps and regions, and `server.start(port)` for on-demand
capture. Traces land in <logdir>/plugins/profile/<run>/ as the xplane files TensorBoard's
profile plugin reads, where TF writes them.
"""

from __future__ import annotations

import os
import shutil
import threading
from typing import NamedTuple

import jax

from xlaflow import errors
from xlaflow.profiler import server

__all__ = ["ProfilerOptions", "Trace", "server", "start", "stop"]

_lock = threading.Lock()
_running = {}  # "logdir" and the runs it held before start: while a trace is being taken


class ProfilerOptions(NamedTuple):
    """TF's options: `host_tracer_level` (0-3) and `python_tracer_level` (0 or 1) reach
    JAX's profiler; device tracing is always on and there is no start delay here."""

    host_tracer_level: int = 2
    python_tracer_level: int = 0
    device_tracer_level: int = 1
    delay_ms: int | None = None


def _jax_options(options):
    if options is None:
        return None
    if not isinstance(options, ProfilerOptions):
        raise TypeError(f"start: options must be a tf.profiler.experimental.ProfilerOptions; "
                        f"received {type(options).__name__}")
    if options.device_tracer_level != 1 or options.delay_ms not in (None, 0):
        raise NotImplementedError(
            f"ProfilerOptions(device_tracer_level={options.device_tracer_level!r}, delay_ms="
            f"{options.delay_ms!r}): JAX's profiler always traces devices and starts at "
            "once; leave them at their defaults (time.sleep before start() for a delay)")
    if options.host_tracer_level not in (0, 1, 2, 3) or \
            options.python_tracer_level not in (0, 1):
        raise ValueError(f"ProfilerOptions: host_tracer_level must be 0-3 and "
                         f"python_tracer_level 0 or 1; received {options.host_tracer_level!r}"
                         f" and {options.python_tracer_level!r}")
    jax_options = jax.profiler.ProfileOptions()
    jax_options.host_tracer_level = options.host_tracer_level
    jax_options.python_tracer_level = options.python_tracer_level
    return jax_options


def _runs(logdir):
    directory = os.path.join(logdir, "plugins", "profile")
    return set(os.listdir(directory)) if os.path.isdir(directory) else set()


def start(logdir, options=None):
    """Start tracing this process into `logdir` (TF: AlreadyExistsError if a trace is
    already being taken)."""
    jax_options = _jax_options(options)
    logdir = os.fspath(logdir)
    with _lock:
        if _running:
            raise errors.AlreadyExistsError(
                None, None, f"Another profiler session is running (into "
                f"{_running['logdir']}); call tf.profiler.experimental.stop() first")
        before = _runs(logdir)
        try:
            jax.profiler.start_trace(logdir, profiler_options=jax_options)
        except RuntimeError as e:  # started by jax.profiler directly, or by a callback
            raise errors.AlreadyExistsError(None, None, str(e)) from e
        _running.update(logdir=logdir, before=before)


def stop(save=True):
    """Stop the trace `start` began and write it (with `save=False`, drop it). TF's
    UnavailableError when none is running."""
    with _lock:
        if not _running:
            raise errors.UnavailableError(
                None, None, "Cannot export profiling results. No profiler is running.")
        logdir, before = _running.pop("logdir"), _running.pop("before")
        jax.profiler.stop_trace()
        if not save:  # JAX always writes: remove the run this trace added
            for run in _runs(logdir) - before:
                shutil.rmtree(os.path.join(logdir, "plugins", "profile", run),
                              ignore_errors=True)


class Trace:
    """`with Trace("train", step_num=step, _r=1):` marks a region of the trace; with
    `step_num` it is a step, which TensorBoard's overview page times. Other keyword
    arguments become the event's metadata, as in TF."""

    def __init__(self, name, **kwargs):
        if "step_num" in kwargs:  # JAX's step annotation sets TF's root marker `_r=1`
            kwargs.pop("_r", None)
            self._annotation = jax.profiler.StepTraceAnnotation(name, **kwargs)
        else:
            self._annotation = jax.profiler.TraceAnnotation(name, **kwargs)

    def __enter__(self):
        self._annotation.__enter__()
        return self

    def __exit__(self, *exc):
        return self._annotation.__exit__(*exc)
