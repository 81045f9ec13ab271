"""Checks that fail while a compiled program runs, re-raised as the user's exception.

A failing check raises inside a `jax.debug.callback`, which JAX reports as a
JaxRuntimeError; xf.function finds the check's token in that error and raises the original
exception (an AssertionError with the user's message, say) in its place.
"""

from __future__ import annotations

import itertools
import re
import threading

import jax

_lock = threading.Lock()
_failed = {}
_tokens = itertools.count(1)
_TOKEN = re.compile(r"\[xlaflow check (\d+)\]")


def check(ok, make_error):
    """At run time, raise `make_error(token_text)` unless the scalar `ok` is true."""
    token = next(_tokens)
    label = f"[xlaflow check {token}]"

    def callback(value):
        if not bool(value):
            error = make_error(label)
            with _lock:
                _failed[token] = error
            raise error

    jax.debug.callback(callback, ok)


def original_error(runtime_error):
    """The exception a failed check raised, if `runtime_error` came from one."""
    match = _TOKEN.search(str(runtime_error))
    if match is None:
        return None
    with _lock:
        return _failed.pop(int(match.group(1)), None)
