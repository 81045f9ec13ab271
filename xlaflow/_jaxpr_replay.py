"""A recorded tape block's jaxpr: replayed with zero shifts added where chosen results are
computed (their gradients are the gradients with respect to those results), and the inputs
each output depends on (for TF's None on unconnected sources)."""

from __future__ import annotations

import collections
import contextlib
import threading

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Var

from xlaflow import _donation, _jaxpr_key

# The sighting of one block structure that compiles its replay. One compile costs what
# some 30-60 op-by-op replays save (a 3-layer MLP on a CPU: ~0.3 s against ~7 ms a step),
# so a block run a few times stays op by op; one run 10 times is a loop, likely to run on.
COMPILE_AT = 10
_LIMIT = 64  # structures remembered (sightings or compiled replays), the newest kept
_seen = collections.OrderedDict()
_seen_lock = threading.Lock()


def computed_results(jaxpr, outvars):
    """The distinct variables among `outvars` that an equation of `jaxpr` computes (not
    inputs or constants passed through) with a float dtype."""
    inputs = set(jaxpr.invars) | set(jaxpr.constvars)
    found = []
    for v in outvars:
        if isinstance(v, Var) and v not in inputs and not any(v is f for f in found) and \
                jnp.issubdtype(v.aval.dtype, jnp.inexact):
            found.append(v)
    return found


def passthroughs(closed, shifted):
    """{shifted variable: constant value} for the tape's marks `x + 0` of a concrete
    constant `x` nothing else reads: replayed from that value itself, no add and no zero
    shift (two fewer eager operations a Variable; the same function). Not under a
    transformation, where a replica's shift must stay its own (see gradient_tape._zeros)."""
    jaxpr = closed.jaxpr
    const_of = {v: c for v, c in zip(jaxpr.constvars, closed.consts)
                if not isinstance(c, jax.core.Tracer)}
    uses = collections.Counter(v for eqn in jaxpr.eqns for v in eqn.invars
                               if isinstance(v, Var))
    uses.update(v for v in jaxpr.outvars if isinstance(v, Var))
    wanted = set(shifted)
    found = {}
    for eqn in jaxpr.eqns:
        if eqn.primitive.name != "add" or eqn.outvars[0] not in wanted:
            continue
        out = eqn.outvars[0]
        x, zero = eqn.invars
        if isinstance(zero, jax.extend.core.Literal) and x in const_of and uses[x] == 1 \
                and np.ndim(zero.val) == 0 and zero.val == 0 and x.aval == out.aval:
            found[out] = const_of[x]
    return found


def starting_points(closed, shifted, zeros):
    """The replay's differentiable inputs: a zero shift (`zeros(aval)`) for each shifted
    variable, its constant for a passthrough; with the passthroughs. The record reads its
    constants (Variable values among them) while it lives: they are pinned, so a later
    donate_variables call copies them rather than consuming them."""
    _donation.pin([c for c in closed.consts
                   if isinstance(c, jax.Array) and not isinstance(c, jax.core.Tracer)])
    passthrough = passthroughs(closed, shifted)
    return passthrough, [passthrough[v] if v in passthrough else zeros(v.aval)
                         for v in shifted]


def replay(closed, shifted, args, shifts, passthrough=None):
    """Evaluate `closed` on `args`, adding `shifts[k]` to `shifted[k]` where it is computed
    (jax.core's evaluation loop, plus the shifts); a `passthrough` variable's shift is its
    value, its equation skipped."""
    jaxpr = closed.jaxpr
    env = dict(zip(jaxpr.constvars, closed.consts))
    env.update(zip(jaxpr.invars, args))
    shift_of = {v: s for v, s in zip(shifted, shifts)}
    skip = passthrough or {}

    def read(v):
        return v.val if isinstance(v, jax.extend.core.Literal) else env[v]

    for eqn in jaxpr.eqns:
        if skip and eqn.outvars and eqn.outvars[0] in skip:
            env[eqn.outvars[0]] = shift_of[eqn.outvars[0]]
            continue
        params = eqn.primitive.get_bind_params(eqn.params)
        # Older JAX returns (subfuns, params); newer puts subfuns inside params.
        subfuns, params = params if isinstance(params, tuple) else ((), params)
        context = getattr(getattr(eqn, "ctx", None), "manager", None) or \
            contextlib.nullcontext()
        with context:
            outs = eqn.primitive.bind(*subfuns, *map(read, eqn.invars), **params)
        for v, out in zip(eqn.outvars, outs if eqn.primitive.multiple_results else [outs]):
            if not isinstance(v, jax.extend.core.DropVar):
                env[v] = out + shift_of[v] if v in shift_of else out
    return [read(v) for v in jaxpr.outvars]


def replayer(closed, shifted, passthrough):
    """A function of the shifts that replays `closed` (see replay): compiled, with the
    constants as arguments, once its structure (_jaxpr_key) has been seen COMPILE_AT
    times; op by op, as eager JAX runs, before that or when it has no key."""
    compiled = _compiled(closed, shifted, passthrough)
    if compiled is None:
        return lambda shifts: replay(closed, shifted, [], shifts, passthrough)
    consts = list(closed.consts)
    return lambda shifts: compiled(consts, shifts)


def _compiled(closed, shifted, passthrough):
    key = _jaxpr_key.structure_key(closed, shifted)
    if key is None:
        return None
    key = key, tuple(v in passthrough for v in shifted)
    with _seen_lock:
        entry = _seen.pop(key, 0)
        if not callable(entry):
            entry += 1
            if entry >= COMPILE_AT:
                entry = _compile(closed.jaxpr, shifted, tuple(passthrough))
        _seen[key] = entry
        while len(_seen) > _LIMIT:
            _seen.popitem(last=False)
    return entry if callable(entry) else None


def _compile(jaxpr, shifted, passthrough):
    # only variables are kept: a constant's value (a Variable's array) arrives per call
    skip = dict.fromkeys(passthrough)

    @jax.jit
    def run(consts, shifts):
        return replay(jax.extend.core.ClosedJaxpr(jaxpr, consts), shifted, [], shifts, skip)
    return run


def _differentiable(var):
    dtype = getattr(getattr(var, "aval", None), "dtype", None)
    return dtype is None or jnp.issubdtype(dtype, jnp.inexact)


def dependencies(jaxpr, shifted=()):
    """For each output of `jaxpr`, the input positions it depends on (an equation's outputs
    depend on all its inputs: conservative inside loops and branches); the k-th `shifted`
    variable counts as input position len(invars) + k."""
    depends = {v: {i} for i, v in enumerate(jaxpr.invars)}
    position = {v: len(jaxpr.invars) + k for k, v in enumerate(shifted)}
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "stop_gradient":
            inputs = set()
        else:
            inputs = set().union(*(depends.get(v, set()) for v in eqn.invars
                                   if isinstance(v, Var)))
        for out in eqn.outvars:
            # an integer or boolean value (a comparison, an argmax, a cast) carries no
            # gradient, as TF's tape treats them: what it decides is not connected
            carried = inputs if _differentiable(out) else set()
            depends[out] = carried | {position[out]} if out in position else carried
    return [depends.get(v, set()) if isinstance(v, Var) else set() for v in jaxpr.outvars]
