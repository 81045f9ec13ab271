"""`with` statements: Python's protocol, or a context's own way to run a recorded block.

A context manager whose type defines `_xf_record_block` (xf.GradientTape, its
stop_recording) receives the block as a function with its state accessors and runs it
itself — that is how a tape turns its block into a function it can differentiate. Every
other manager gets exactly Python's `with` semantics.
"""

from __future__ import annotations

import sys


def with_stmt(manager, body, get_state, set_state, names, n_out, get_reads, set_reads,
              read_names):
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
