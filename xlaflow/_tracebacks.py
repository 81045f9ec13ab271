"""Errors raised while tracing user code point at the user's lines, not xlaflow's.

xlaflow's own frames are removed from the traceback (set XLAFLOW_TRACEBACK_FILTERING=off
to keep them), and a note names the user's innermost line, in the style of TF's
"in user code:" block.
"""

from __future__ import annotations

import linecache
import os
import types

import jax

from xlaflow.config import flags

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_JAX_DIR = os.path.dirname(os.path.abspath(jax.__file__)) + os.sep


def is_library_frame(filename):
    """Whether a frame of `filename` is xlaflow's or JAX's (not the user's)."""
    filename = os.path.abspath(filename)
    return filename.startswith((_PACKAGE_DIR, _JAX_DIR))


def _without_library_frames(tb):
    frames = []
    while tb is not None:
        if not is_library_frame(tb.tb_frame.f_code.co_filename):
            frames.append(tb)
        tb = tb.tb_next
    rebuilt = None
    for frame in reversed(frames):
        rebuilt = types.TracebackType(rebuilt, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return rebuilt


def _user_lines(tb):
    lines = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if not is_library_frame(code.co_filename):
            text = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            lines.append(f'    File "{code.co_filename}", line {tb.tb_lineno}, in '
                         f"{code.co_name}\n        {text}")
        tb = tb.tb_next
    return lines


def annotate_trace_error(exc, fn_name):
    """Add an "in user code" note naming the user's lines; returns `exc` for re-raising."""
    if getattr(exc, "_xlaflow_annotated", False):
        return exc
    lines = _user_lines(exc.__traceback__)
    if lines and hasattr(exc, "add_note"):
        exc.add_note(f"xf.function {fn_name!r} failed while tracing, in user code:\n"
                     + "\n".join(lines[-3:]))
    if isinstance(exc, RecursionError):
        exc.add_note("A recursive call under a tensor `if` recurses while it is traced: "
                     "both branches of a tensor-dependent `if` are traced, so a base case "
                     "that a tensor decides never stops the tracing. Write the recursion as "
                     "a loop, or decide the base case on a Python value.")
    try:
        exc._xlaflow_annotated = True
    except AttributeError:
        pass
    return exc


def filter_frames(exc):
    """Drop xlaflow's and JAX's frames from `exc`'s traceback (unless filtering is off)."""
    if flags.traceback_filtering and exc.__traceback__ is not None:
        filtered = _without_library_frames(exc.__traceback__)
        if filtered is not None:
            exc.__traceback__ = filtered
    return exc
