"""TF's lift_to_graph for xf.function: a Variable's initial value computed mid-trace, made concrete.

A Variable created while xf.function traces (`self.v = xf.Variable(xf.zeros([2]))`) gets a
traced initial value, because jax.jit stages every operation. TF lifts the operations that
compute it out of the function graph and runs them once; here the same is done by walking
the trace's recorded operations back from that value and running them eagerly, with the
current values of the Variables they read. So the first trace goes on without being
restarted, and a creation block's Python side effects run once, as in TF.

This walks JAX's tracing data structures (jax._src); where they are not what it expects, it
answers CANNOT and the caller falls back to rerunning the trace with compile-time evaluation.
"""

from __future__ import annotations

CANNOT = object()  # the value could not be lifted here: rerun with compile-time evaluation


class FromArgument(Exception):
    """The initial value depends on one of the function's traced arguments."""


def lift(value, known, arguments):
    """The concrete value of `value`, a tracer of the trace the function runs in, or CANNOT.

    `known` pairs each lifted Variable with the tracer that stands for it in this trace (its
    concrete value is the Variable's cell, read now); `arguments` are the traced arguments.
    Raises FromArgument when the value depends on an argument's value.
    """
    try:
        from jax._src import core
        from jax._src.interpreters import partial_eval as pe
    except ImportError:  # pragma: no cover - a JAX without these modules
        return CANNOT
    if type(value) is not getattr(pe, "DynamicJaxprTracer", None) or \
            not hasattr(value, "parent"):
        return CANNOT  # e.g. a JVP tracer of a tape block: not the function's own trace
    trace = value._trace
    env = {}
    for var, tracer in known:
        concrete = var._value
        if isinstance(tracer, pe.DynamicJaxprTracer) and tracer._trace is trace and \
                not isinstance(concrete, core.Tracer):
            env[tracer.val] = concrete
    argument_vars = {t.val for t in arguments
                     if isinstance(t, pe.DynamicJaxprTracer) and t._trace is trace}
    consts = trace.frame.constvar_to_val
    try:
        return _evaluate(value, env, argument_vars, consts, core)
    except FromArgument:
        raise
    except Exception:  # noqa: BLE001 - any surprise in JAX's internals: use the fallback
        return CANNOT


class _Unliftable(Exception):
    pass


def _evaluate(value, env, argument_vars, consts, core):
    """Run, eagerly and in dependency order, the recorded operations that `value` needs."""
    pending = [value]
    with core.eval_context():
        while pending:
            tracer = pending[-1]
            var = tracer.val
            if isinstance(var, core.Literal) or var in env:
                pending.pop()
                continue
            eqn = tracer.parent
            if eqn is None:  # an input of the trace, or a constant it captured
                if var in consts:
                    env[var] = consts[var]
                elif var in argument_vars:
                    raise FromArgument()
                else:
                    raise _Unliftable()
                pending.pop()
                continue
            needed = [t for t in eqn.in_tracers
                      if not isinstance(t.val, core.Literal) and t.val not in env]
            if needed:
                pending.extend(needed)
                continue
            if eqn.effects:  # a callback or an ordered effect: not run at trace time
                raise _Unliftable()
            inputs = [t.val.val if isinstance(t.val, core.Literal) else env[t.val]
                      for t in eqn.in_tracers]
            outputs = eqn.primitive.bind(*inputs, **eqn.params)
            if not eqn.primitive.multiple_results:
                outputs = [outputs]
            env.update(zip(eqn.outvars, outputs))
            pending.pop()
    result = value.val.val if isinstance(value.val, core.Literal) else env[value.val]
    if isinstance(result, core.Tracer):
        raise _Unliftable()
    return result
