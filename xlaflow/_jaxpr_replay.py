"""A recorded tape block's jaxpr: replayed with zero shifts added where chosen results are
computed (their gradients are the gradients with respect to those results), and the inputs
each output depends on (for TF's None on unconnected sources)."""

from __future__ import annotations

import contextlib

import jax
import jax.extend
import jax.numpy as jnp
from jax.extend.core import Var


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


def replay(closed, shifted, args, shifts):
    """Evaluate `closed` on `args`, adding `shifts[k]` to `shifted[k]` where it is computed
    (jax.core's evaluation loop, plus the shifts)."""
    jaxpr = closed.jaxpr
    env = dict(zip(jaxpr.constvars, closed.consts))
    env.update(zip(jaxpr.invars, args))
    shift_of = {v: s for v, s in zip(shifted, shifts)}

    def read(v):
        return v.val if isinstance(v, jax.extend.core.Literal) else env[v]

    for eqn in jaxpr.eqns:
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
