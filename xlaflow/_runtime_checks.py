"""Checks that fail while a compiled program runs (converted `assert`, loops that ran zero
times), raised as the user's exception.

Inside xf.function a failing check only records its exception; xf.function waits for the
program's results and raises it before writing back any Variable. Outside xf.function
(AutoGraph code under a plain jax.jit), and in an xf.function called inside a user's own
jax.jit/vmap/grad (whose results xf.function never sees), the check raises inside its
callback, which JAX reports as a JaxRuntimeError carrying the same message.
"""

from __future__ import annotations

import itertools
import threading

import jax

from xlaflow import _host_callbacks, _lifting

_lock = threading.Lock()
_failed = {}
_tokens = itertools.count(1)


def check(ok, make_error):
    """At run time, fail with `make_error()` unless the scalar `ok` is true."""
    _host_callbacks.refuse(
        lambda: f"a run-time check ({type(e := make_error()).__name__}: {e})",
        "the exported program could not enforce it. Validate inputs before calling the "
        "served model, or export a separate xf.function without the check")
    ctx = _lifting.current()
    if ctx is None or ctx.raise_checks:
        def raising(value):
            if not bool(value):
                raise make_error()

        jax.debug.callback(raising, ok)
        return
    token = next(_tokens)
    ctx.check_tokens.append(token)

    def recording(value):
        if not bool(value):
            with _lock:
                _failed[token] = make_error()

    jax.debug.callback(recording, ok)


def raise_failed(tokens):
    """Raise the first exception recorded by the checks `tokens` (forgetting the others)."""
    jax.effects_barrier()
    with _lock:
        errors = [_failed.pop(t) for t in tokens if t in _failed]
    if errors:
        raise errors[0]
