"""Helpers for the loop programs modelled on TF's AutoGraph reference tests."""

import jax.numpy as jnp

import xlaflow as xf
from tests.autograph.conftest import _compare


def as_tensor(value):
    """Python ints and (nested, rectangular) lists as int32 tensors; anything else as is."""
    if isinstance(value, (int, list)) and not isinstance(value, bool):
        return jnp.asarray(value, jnp.int32)
    return value


def matches_python(fn, *args, static=True):
    """`fn` compiled agrees with `fn` run by Python: on tensors (lax control flow) and, with
    `static`, on the Python values themselves (Python control flow at trace time)."""
    expect = fn(*args)
    _compare(xf.function(fn)(*[as_tensor(a) for a in args]), expect)
    if static:
        _compare(xf.function(fn)(*args), expect)
    return expect
