"""The entry point xf.function calls to convert a Python function before tracing it.

The source-to-source converter (tensor-dependent if/while/for to lax control flow) is the
subject of the AutoGraph issue. Until it lands, `convert` returns functions unchanged, so
Python control flow on tensors raises JAX's concretization error at trace time; everything
else about xf.function already goes through this hook.
"""

from __future__ import annotations

_DO_NOT_CONVERT = "__xlaflow_do_not_convert__"


def do_not_convert(fn):
    """Mark `fn` so AutoGraph never rewrites it; it is called as written."""
    setattr(fn, _DO_NOT_CONVERT, True)
    return fn


def convert(fn):
    """The function xf.function should trace in place of `fn` (unchanged for now)."""
    return fn
