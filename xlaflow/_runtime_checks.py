"""Checks that fail while a compiled program runs (converted `assert`, loops that ran zero
times), raised as the user's exception.

Inside xf.function a failing check only records its exception; xf.function waits for the
program's results and raises it before writing back any Variable. Outside xf.function
(AutoGraph code under a plain jax.jit), and in an xf.function called inside a user's own
jax.jit/vmap/grad (whose results xf.function never sees), the check raises inside its
callback, which JAX reports as a JaxRuntimeError carrying the same message.
"""

from __future__ import annotations

import contextlib
import itertools
import threading

import jax
import jax.numpy as jnp
import numpy as np
from jax._src import core as _core  # the current trace: top level or inside a loop/branch

from xlaflow import _host_callbacks, _lifting

_lock = threading.Lock()
_failed = {}  # token -> (when it failed, its exception)
_tokens = itertools.count(1)
_order = itertools.count(1)  # failures in the order they happened


class _Abstract(threading.local):
    depth = 0  # > 0 inside a pass whose program is thrown away (see abstract_pass)


_abstract = _Abstract()


def current_trace():
    """The JAX trace now recording (a loop body or branch has its own)."""
    return _core.trace_ctx.trace


@contextlib.contextmanager
def abstract_pass():
    """Checks made inside add nothing: the pass (an eval_shape probe of a loop body, say)
    only learns shapes, and its program never runs. Recorded, a check's token would make
    every later call of the function wait for its results to see a check that is not in
    the program that runs (a TensorArray loop ran 1.8x slower so)."""
    _abstract.depth += 1
    try:
        yield
    finally:
        _abstract.depth -= 1


def check(ok, make_error, *operands):
    """At run time, fail with `make_error(*operands)` (the operands' values as NumPy arrays,
    for the message) unless the scalar `ok` is true.

    The host callback sits in the failing branch of a lax.cond, so a passing check costs a
    predicate, not a host round trip: one callback per step of a 200-step compiled loop
    made it 100x slower on CPU."""
    if _abstract.depth:
        return
    _host_callbacks.refuse(
        lambda: _described(make_error, operands),
        "the exported program could not enforce it. Validate inputs before calling the "
        "served model, or export a separate xf.function without the check")
    ok = jnp.asarray(ok, bool)
    ctx = _lifting.current()
    if ctx is not None and getattr(ctx, "top_trace", None) is not None and \
            not ctx.raise_checks and current_trace() is ctx.top_trace:
        # Outside any loop or branch the verdict can be an output of the program: a host
        # callback anywhere in a program takes JAX's Python dispatch path on every call
        # (~50x a small program's C++ dispatch), and most checks sit here.
        # Its token places it among the callback checks, traced in the same order
        ctx.inline_checks.append((ok, tuple(operands), (next(_tokens), make_error)))
        return
    if ctx is None or ctx.raise_checks:
        def report(value, *values):
            if not bool(value):
                raise make_error(*(np.asarray(v) for v in values))
    else:
        token = next(_tokens)
        ctx.check_tokens.append(token)

        def report(value, *values):
            if not bool(value):  # under vmap both branches run, once per element
                _record(token, make_error(*(np.asarray(v) for v in values)))

    jax.lax.cond(ok, lambda *_: None,
                 lambda *args: jax.debug.callback(report, *args), ok, *operands)


def deferring_errors(host, stand_in):
    """`host` (a host callback's function) such that, inside xf.function, its exception is
    recorded as a failed check's and raised by xf.function after the program, while
    `stand_in()` gives the program values to go on with. Raised in the callback, the
    exception reaches the caller only at some later wait on a GPU (an XLA runtime error
    from the next effects barrier, in whatever call that is); on the CPU at once. Once a
    check or callback of the program has failed, `host` is not called again in that run:
    TF stops at the failing op, so later Python side effects must not happen."""
    ctx = _lifting.current()
    if _abstract.depth or ctx is None or ctx.raise_checks:
        return host
    token = next(_tokens)
    ctx.check_tokens.append(token)
    siblings = ctx.check_tokens  # the whole trace's, complete once it runs

    def recording(*values):
        if _failed and any(t in _failed for t in siblings):
            return stand_in()
        try:
            return host(*values)
        # BaseException too: a KeyboardInterrupt or SystemExit the func raises arrives as
        # itself, not as the XLA runtime error a raise inside the callback would become
        except BaseException as error:  # noqa: BLE001 -- raised by xf.function after the call
            _record(token, error)
            return stand_in()

    return recording


def _record(token, error):
    """Note that check `token` failed with `error`; its first failure in a run counts."""
    with _lock:
        if token not in _failed:
            _failed[token] = (next(_order), error)


def _described(make_error, operands):
    """What a refused check would raise: its error type and message, with zeros standing
    for the run-time values it shows (said so, lest they read as a failure seen)."""
    error = make_error(*_placeholders(operands))
    if not operands:
        return f"a run-time check ({type(error).__name__}: {error})"
    return (f"a run-time check raising {type(error).__name__} when it fails (its message, "
            f"with zeros for the run-time values it would show: {error})")


def _placeholders(operands):
    """Zeros shaped like `operands`: the message of a check that export refuses names the
    check, not values no export ever sees."""
    # (an export's symbolic dimensions count as 1 here)
    return [np.zeros([d if isinstance(d, int) else 1 for d in np.shape(o)],
                     jnp.result_type(o)) for o in operands]


def raise_failed(tokens, out=None):
    """Raise the exception that the checks `tokens` recorded first in time (forgetting the
    others): in a loop, a check traced earlier may fail later, on the stand-in values that
    a failed py_function left, and TF stops at the first failing op. `out`, a Checked, adds
    its top-level checks: the first that failed stops the program where it stands, so only
    the callback checks traced before it count (TF never ran the later ones)."""
    if tokens:
        jax.effects_barrier()
    stop, inline_error = out.first_failure() if type(out) is Checked else (None, None)
    with _lock:
        errors = [(t, _failed.pop(t)) for t in tokens if t in _failed]
    errors = [e for t, e in errors if stop is None or t < stop]
    if errors:
        raise min(errors, key=lambda e: e[0])[1]
    if inline_error is not None:
        raise inline_error


@jax.tree_util.register_pytree_node_class
class Checked:
    """A program's outputs with the verdicts of its top-level checks (and the values their
    messages show); `raise_failed` after the call raises the first failed check's error, in
    trace order. The tokens and error makers travel as static pytree data, so each traced
    program carries its own."""

    __slots__ = ("out", "oks", "operands", "makers")

    def __init__(self, out, oks, operands, makers):
        self.out, self.oks, self.operands, self.makers = out, oks, operands, makers

    def tree_flatten(self):
        return (self.out, self.oks, self.operands), self.makers

    @classmethod
    def tree_unflatten(cls, makers, children):
        return cls(*children, makers)

    def first_failure(self):
        """`(token, error)` of the first top-level check that failed, in trace order (the
        token orders it among the program's callback checks), or `(None, None)`."""
        oks = np.asarray(self.oks)
        if oks.all():
            return None, None
        first = int(np.argmin(oks))
        token, make_error = self.makers[first]
        return token, make_error(*(np.asarray(v) for v in self.operands[first]))


def passed_so_far():
    """A traced bool: whether every top-level check traced so far in this xf.function passes
    (None where there is none). A host callback with side effects takes it as an operand,
    and skips its Python when it is false: such checks are program outputs, seen only after
    the run, and TF stops at the failing op."""
    ctx = _lifting.current()
    while getattr(ctx, "parent", None) is not None:
        ctx = ctx.parent
    checks = getattr(ctx, "inline_checks", None)
    if not checks:
        return None
    return jnp.all(jnp.stack([ok for ok, _, _ in checks]))


def with_checks(ctx, out):
    """`out`, wrapped with the top-level checks `ctx` collected (unchanged without any)."""
    if not ctx.inline_checks:
        return out
    oks = jnp.stack([ok for ok, _, _ in ctx.inline_checks])
    return Checked(out, oks, tuple(ops for _, ops, _ in ctx.inline_checks),
                   tuple(make for _, _, make in ctx.inline_checks))
