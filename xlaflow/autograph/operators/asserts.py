"""`assert test, message`: a traced test becomes a check that fails when the program runs."""

from __future__ import annotations

import jax.numpy as jnp

from xlaflow import _runtime_checks
from xlaflow.autograph.operators.dispatch import caller, is_traced


def assert_stmt(test, message):
    """Python's assert for Python values; a run-time check (AssertionError) for tensors."""
    if not is_traced(test):
        if not test:
            text = message()
            raise AssertionError(text) if text is not None else AssertionError()
        return
    where = caller()
    text = message()
    shown = "" if text is None else str(text)
    ok = jnp.all(test)
    _runtime_checks.check(ok, lambda: AssertionError(
        f"{shown} ({where})" if shown else f"assertion failed at {where}"))
