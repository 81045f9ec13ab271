"""`with` statements: Python's protocol, or a context's own way to run a recorded block.

A context manager whose type defines `_xf_record_block` (xf.GradientTape, its
stop_recording) receives the block as a function with its state accessors and runs it
itself — that is how a tape turns its block into a function it can differentiate. Every
other manager gets exactly Python's `with` semantics.
"""

from __future__ import annotations

import sys
import threading


class _Joined:
    """A later item of a `with a, b:` statement (see joined)."""

    __slots__ = ("manager",)

    def __init__(self, manager):
        self.manager = manager


def joined(manager):
    """`b` of `with a, b:`: a manager whose type defines `_xf_join_block(leader, body)` may
    run the block as part of the nearest earlier item of its type (two tapes of one
    statement record it once, together)."""
    return _Joined(manager)


_running = threading.local()  # .managers: (manager, joined) of the with statements running
# their blocks, innermost last


def with_stmt(manager, body, get_state, set_state, names, n_out, get_reads, set_reads,
              read_names):
    running = getattr(_running, "managers", None)
    if running is None:
        running = _running.managers = []
    is_joined = type(manager) is _Joined
    if is_joined:
        manager = manager.manager
        join = getattr(type(manager), "_xf_join_block", None)
        if join is not None and join(manager, _leader(running, type(manager)), body):
            return None
    running.append((manager, is_joined))
    try:
        return _run(manager, body, get_state, set_state, get_reads, set_reads, read_names)
    finally:
        running.pop()


def _leader(running, kind):
    """The nearest earlier item of the same `with` statement that is a `kind`, or None."""
    for manager, is_joined in reversed(running):
        if isinstance(manager, kind):
            return manager
        if not is_joined:
            return None
    return None


def _run(manager, body, get_state, set_state, get_reads, set_reads, read_names):
    record = getattr(type(manager), "_xf_record_block", None)
    if record is not None:
        return record(manager, body, get_state, set_state, get_reads, set_reads, read_names)
    enter, exit_ = type(manager).__enter__, type(manager).__exit__
    value = enter(manager)
    try:
        body(value)
    except BaseException:
        if not exit_(manager, *sys.exc_info()):
            raise
    else:
        exit_(manager, None, None, None)


def watch(owner, value):
    """`owner.watch(value)`, returning what the name should hold afterwards."""
    hook = getattr(type(owner), "_xf_watch", None)
    if hook is not None:
        return hook(owner, value)
    owner.watch(value)
    return value
