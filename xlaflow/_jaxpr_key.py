"""A hashable key that two jaxprs share only when they compute the same function.

An eager tape traces its block on every entry; the key tells when this trace is one seen
before, so its replay can run compiled (see _jaxpr_replay.compiled_replay). Whatever cannot
be compared by value (a Python callable, a traced value, a large array) makes the jaxpr
unkeyable, and the tape replays it op by op as before: a wrong match would be a wrong
gradient, a missed one only costs time.
"""

from __future__ import annotations

import functools
import types

import jax.extend.random
import numpy as np
from jax import core as jax_core
from jax.extend.core import ClosedJaxpr, Jaxpr, Literal

_FUNCTIONS = (types.FunctionType, types.MethodType, types.BuiltinFunctionType,
              functools.partial)
# A registered PRNG implementation (random_wrap's `impl`): a named tuple of its functions,
# compared field by field (those functions by identity), so one implementation is one key.
_PRNG_IMPL = type(jax.extend.random.threefry_prng_impl)
_SMALL = 64  # elements of a constant compared by its bytes; larger ones are not keyed


class Unkeyable(Exception):
    """Why a jaxpr has no key (its replay then stays op by op)."""


def structure_key(closed, marked=()):
    """The key of `closed` (a ClosedJaxpr) with the variables `marked` (the tape's shifted
    results) named by position, or None when it has none. Constants are keyed by their
    types only: they are the compiled replay's arguments."""
    if closed.jaxpr.effects:
        return None  # host callbacks, prints: their order and errors stay eager
    if any(isinstance(c, jax_core.Tracer) for c in closed.consts):
        return None  # recorded under a transformation: the outer trace compiles it
    names = {}
    try:
        body = _jaxpr(closed.jaxpr, names)
    except Unkeyable:
        return None
    return body, tuple(names[v] for v in marked)


def _jaxpr(jaxpr, names=None, rules=True):
    """`rules`: whether a custom_jvp's rule is part of the key. Inside a rule it is not: a
    rule's own custom_jvp calls (relu's rule calls relu) are evaluated, not differentiated,
    by a first-order replay, and keying their rules would recurse without end."""
    names = {} if names is None else names
    for v in (*jaxpr.constvars, *jaxpr.invars):
        names[v] = len(names)
    head = (tuple(v.aval for v in jaxpr.constvars), tuple(v.aval for v in jaxpr.invars))
    eqns = []
    for eqn in jaxpr.eqns:
        ins = tuple(_ref(v, names) for v in eqn.invars)
        for v in eqn.outvars:
            names[v] = len(names)
        params = eqn.params
        if eqn.primitive.name == "custom_jvp_call":
            params = _custom_jvp_params(params, len(eqn.invars), rules)
        eqns.append((eqn.primitive, ins, tuple(v.aval for v in eqn.outvars),
                     tuple((k, _value(p, rules)) for k, p in sorted(params.items())),
                     _context(eqn)))
    return head, tuple(eqns), tuple(_ref(v, names) for v in jaxpr.outvars)


def _context(eqn):
    """The configuration an equation binds under (threefry_partitionable, compute_on, the
    abstract mesh, XLA metadata): replay enters it, so the same operations under another
    one compute something else (other random bits). JAX interns these contexts, so equal
    ones are one object; a JAX whose contexts compare by identity alone only misses."""
    ctx = getattr(eqn, "ctx", None)
    try:
        hash(ctx)
    except TypeError:
        raise Unkeyable(f"an unhashable equation context ({type(ctx).__name__})") from None
    return ctx


def _ref(v, names):
    if isinstance(v, Literal):
        return "literal", _array(v.val), v.aval
    return names[v]


def _custom_jvp_params(params, n_in, rules):
    """The rule of a custom_jvp (jax.nn.relu's among them) is a function JAX makes anew at
    each trace: keyed by the jaxpr it traces to, with every tangent nonzero."""
    params = dict(params)
    if not rules:
        params["jvp_jaxpr_fun"] = "a rule's inner rule"
        return params
    tangents = n_in - params["num_consts"]
    try:
        jvp, consts, out_zeros = params.pop("jvp_jaxpr_fun").call_wrapped(*[False] * tangents)
    except Exception as e:  # an internal interface of JAX: if it moves, replay op by op
        raise Unkeyable(f"custom_jvp rule: {e!r}") from e
    params["jvp_jaxpr_fun"] = ("rule", _jaxpr(jvp, rules=False), tuple(map(_array, consts)),
                               tuple(out_zeros))
    return params


def _value(v, rules=True):
    if isinstance(v, float):
        return "float", v.hex()  # -0.0 and 0.0 differ; a nan matches nothing, as it should
    if isinstance(v, (bool, int, str, bytes, type(None))):
        return type(v).__name__, v  # True and 1 are equal as Python values, not as params
    if isinstance(v, _PRNG_IMPL):
        return "prng_impl", v  # its functions are the registered ones, not user callables
    if isinstance(v, (tuple, list)):
        return type(v).__name__, tuple(_value(x, rules) for x in v)
    if isinstance(v, ClosedJaxpr):
        return "closed", _jaxpr(v.jaxpr, rules=rules), tuple(map(_array, v.consts))
    if isinstance(v, Jaxpr):
        return "jaxpr", _jaxpr(v, rules=rules)
    if isinstance(v, (np.ndarray, np.generic)):
        return _array(v)
    if isinstance(v, np.dtype):
        return "dtype", v
    if isinstance(v, _FUNCTIONS) or hasattr(v, "call_wrapped"):
        # traced when the replay is differentiated, reading whatever it reads then: the
        # same object may compute something else next time (a custom_vjp's bwd). A host
        # callback's function is no such parameter: it runs when the program runs.
        raise Unkeyable(f"a function parameter ({type(v).__name__})")
    try:
        hash(v)
    except TypeError:
        raise Unkeyable(f"an unhashable parameter ({type(v).__name__})") from None
    return type(v), v


def _array(c):
    if isinstance(c, jax_core.Tracer):
        raise Unkeyable("a traced constant")
    try:
        a = np.asarray(c)
    except Exception as e:  # a PRNG key array, an extended dtype: not compared here
        raise Unkeyable(f"a constant of type {type(c).__name__}") from e
    if a.size > _SMALL or a.dtype == object:
        raise Unkeyable(f"a constant of {a.size} elements")
    return "array", a.dtype.str, a.shape, a.tobytes()
