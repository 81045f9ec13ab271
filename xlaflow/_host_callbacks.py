"""Host callbacks while xf.saved_model.save exports a signature: jax.export cannot serialize
them, so xf.print is left out (and counted) and every other callback is refused by name.

A print only shows values, so the exported program computes the same outputs without it
(TF Serving would print on the server; here the export says that nothing will). A check,
a py_function or a summary write changes what serving does, so leaving one out silently
would not be honest: the export fails naming it, before anything is written.
"""

from __future__ import annotations

import contextlib
import contextvars

_current = contextvars.ContextVar("xlaflow_export", default=None)

# What calls back into Python, by the primitive jax records, for a callback xlaflow did
# not refuse itself (the user's own jax.debug / jax callbacks).
_PRIMITIVES = {
    "debug_callback": "jax.debug.callback",
    "debug_print": "jax.debug.print",
    "io_callback": "jax.experimental.io_callback",
    "pure_callback": "jax.pure_callback",
}


class UnexportableCallbackError(NotImplementedError):
    """An exported signature calls back into Python while it runs, which jax.export
    cannot serialize."""


class _Export:
    def __init__(self, signature, fn_name):
        self.signature, self.fn_name = signature, fn_name
        self.dropped_prints = False

    def where(self):
        return f"signature {self.signature!r} ({self.fn_name})"


@contextlib.contextmanager
def exporting(signature, fn_name):
    """While the function behind `signature` is traced for jax.export: yields the record
    whose `dropped_prints` says whether an xf.print was left out."""
    record = _Export(signature, fn_name)
    token = _current.set(record)
    try:
        yield record
    finally:
        _current.reset(token)


def drop_print():
    """True (and recorded) when an xf.print is traced for an export, which leaves it out."""
    record = _current.get()
    if record is None:
        return False
    record.dropped_prints = True
    return True


def refuse(what, instead):
    """Raise UnexportableCallbackError naming `what` (a host callback about to be traced;
    a string, or a function making it) when tracing for an export; `instead` says what
    to do."""
    record = _current.get()
    if record is not None:
        what = what() if callable(what) else what
        raise UnexportableCallbackError(
            f"saved_model.save: {record.where()} calls {what}, a host callback, which "
            f"jax.export cannot serialize: {instead}")


def refuse_found(closed_jaxpr, cause=None):
    """Raise UnexportableCallbackError (from `cause`, the export's own error) when
    `closed_jaxpr` holds a host callback that the trace did not refuse itself (the user's
    own jax callbacks), which jax.export fails on with an unrelated message."""
    record = _current.get()
    found = sorted({_PRIMITIVES.get(name, name) for name in _callbacks(closed_jaxpr.jaxpr)})
    if record is not None and found:
        raise UnexportableCallbackError(
            f"saved_model.save: {record.where()} calls back into Python while it runs "
            f"({', '.join(found)}), which jax.export cannot serialize: leave the callback "
            "out of the exported function (a separate xf.function for serving)"
        ) from cause


def _callbacks(jaxpr):
    """Names of the callback primitives in `jaxpr` and the jaxprs nested in its equations
    (cond branches, loop bodies, inner jits)."""
    found = set()
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in _PRIMITIVES or "callback" in eqn.primitive.name:
            found.add(eqn.primitive.name)
        for param in eqn.params.values():
            for inner in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(inner, "jaxpr", inner)  # a ClosedJaxpr holds its Jaxpr
                if hasattr(inner, "eqns"):
                    found |= _callbacks(inner)
    return found
