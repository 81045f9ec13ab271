"""An `if` that may return from a loop body runs both sides in line instead of a lax.cond.

In `while ...: if found: return i` / `i += 1` the branch only does bookkeeping, yet as a
lax.cond XLA:CPU runs it as separate kernels around a branch (1.7x the hand-written loop).
A statement that is not a return guard only runs while the function has not returned, so
when one branch sets the return flag (R) and the other leaves it (C): the flag becomes the
predicate, the return value is selected between R's and the one before, and plain local
names are C's (unread once the function has returned). The loop counter then stays
`i + 1`, which XLA keeps as a simple induction variable. Anything else that leaves the
`if` (attributes, Variables, names a closure shares) is selected exactly. Taking R's
return value as is would also be right (it is unread unless the flag is set), but that is
a copy in the loop: on an H100 the search loop ran at 1.20x the hand-written one with the
copy and 0.94x with the select; XLA:CPU runs the two alike.

This is only done when every equation that would then run unconditionally is free of
effects, has no sub-programs and makes no floating-point value (so an untaken side cannot
poison a gradient: jnp.where's NaN pitfall); otherwise the branches become a lax.cond.
Without a return flag the choice depends on the platform, so the program carries both and
XLA lowers only the one for the device it compiles for (lax.platform_dependent): XLA:CPU
keeps the lax.cond (measured, a select feeding a later lax.cond, a `break` flag, runs
slower there), while a GPU or TPU selects, as a conditional there reads its predicate back
to the host: on an H100 the nested loops + break benchmark took 1.80x the hand-written
loop with two lax.cond per step and 1.08x with selects. Such a side may make floating-point
values, by linear operations only (add, max, slicing..., and products of its inputs or by
a known number), whose gradient is finite wherever the inputs are: no log, division or
square root, and no product with a value the side computes (it could overflow to inf).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Literal, jaxprs_in_params

# Beyond this many equations a side is not "bookkeeping" any more.
_MAX_EQNS = 12
# Elements selected in line; larger values go through lax.cond.
_MAX_SELECTED = 4096

FLAG, RETURN, LOCAL, STATE = "flag", "return", "local", "state"
# Where a cheap `if` without a return flag stays a lax.cond (module docstring); elsewhere
# it selects. A tuple of JAX lowering platforms, read at trace time.
BRANCHING_PLATFORMS = ("cpu",)


def cond(pred, true_fn, false_fn, roles):
    """lax.cond(pred, true_fn, false_fn), or both sides in line and selected when cheap.

    `roles(outputs)`, given the branches' output pytree (of shapes), lists each leaf's role:
    FLAG, RETURN, LOCAL or STATE (exact conditional semantics).
    """
    sides = [jax.make_jaxpr(fn, return_shape=True)() for fn in (true_fn, false_fn)]
    (t_jaxpr, t_shape), (f_jaxpr, f_shape) = sides
    tree = jax.tree_util.tree_structure(t_shape)
    avals = _common_avals(t_jaxpr.out_avals, f_jaxpr.out_avals)
    if tree != jax.tree_util.tree_structure(f_shape) or avals is None:
        return jax.lax.cond(pred, lambda: _replay(t_jaxpr, t_shape),
                            lambda: _replay(f_jaxpr, f_shape))  # lax.cond's own error
    leaf_roles = roles(t_shape)
    picks = _plan(t_jaxpr, f_jaxpr, leaf_roles)
    if picks is not None:
        return jax.tree_util.tree_unflatten(tree, _run(pred, t_jaxpr, f_jaxpr, picks, avals))

    def branching():
        return jax.lax.cond(pred, lambda: _replay(t_jaxpr, t_shape),
                            lambda: _replay(f_jaxpr, f_shape))

    def selecting():
        return jax.tree_util.tree_unflatten(tree, _run(pred, t_jaxpr, f_jaxpr, picks, avals))

    picks = _select_all(t_jaxpr, f_jaxpr, leaf_roles)
    if picks is None:
        out = branching()
    else:
        out = jax.lax.platform_dependent(**dict.fromkeys(BRANCHING_PLATFORMS, branching),
                                         default=selecting)
    # A return flag both sides set (the function returns on every path) is known at trace
    # time: given as a Python bool, later code decides on it in Python.
    leaves = jax.tree_util.tree_leaves(out)
    for i, role in enumerate(leaf_roles):
        if role == FLAG and _source(t_jaxpr, t_jaxpr.jaxpr.outvars[i]) == _TRUE == _source(
                f_jaxpr, f_jaxpr.jaxpr.outvars[i]):
            leaves[i] = True
    return jax.tree_util.tree_unflatten(tree, leaves)


def _common_avals(a, b):
    """The outputs' types, as lax.cond would give them: a weakly typed number meeting a
    strongly typed one of the same dtype becomes strong. None if they differ otherwise."""
    if len(a) != len(b) or any(x.strip_weak_type() != y.strip_weak_type()
                               for x, y in zip(a, b)):
        return None
    return [x if x == y else x.strip_weak_type() for x, y in zip(a, b)]


def _replay(closed, shape):
    out = jax.core.eval_jaxpr(closed.jaxpr, closed.consts)
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(shape), out)


def _literal_key(value):
    value = np.asarray(value)
    return ("lit", value.dtype.str, value.tobytes())


_TRUE = _literal_key(True)


def _source(closed, var):
    """What an output is without running anything: a literal's dtype and bytes, the
    identity of a captured value, or None when an equation computes it."""
    if isinstance(var, Literal):
        return _literal_key(var.val)
    if var in closed.jaxpr.constvars:
        const = closed.consts[closed.jaxpr.constvars.index(var)]
        if not isinstance(const, jax.core.Tracer) and jnp.ndim(const) == 0:
            return _literal_key(const)
        return ("const", id(const))
    return None


def _plan(t_jaxpr, f_jaxpr, roles):
    """Per output: 'same', 'true', 'false', 'pred', 'not pred' or 'select'; None when some
    equation that would run is not safe to run unconditionally."""
    t_out, f_out = t_jaxpr.jaxpr.outvars, f_jaxpr.jaxpr.outvars
    sources = [(_source(t_jaxpr, a), _source(f_jaxpr, b)) for a, b in zip(t_out, f_out)]
    flags = [i for i, role in enumerate(roles) if role == FLAG]
    returning = None  # the branch that sets the return flag, if the other leaves it
    if len(flags) == 1:
        t_src, f_src = sources[flags[0]]
        if t_src == _TRUE and f_src is not None and f_src != _TRUE:
            returning = "true"
        elif f_src == _TRUE and t_src is not None and t_src != _TRUE:
            returning = "false"
    if returning is None:
        return None  # plain bookkeeping stays a lax.cond (see the module docstring)
    picks, selected = [], 0
    for i, role in enumerate(roles):
        if role == FLAG:
            picks.append("pred" if returning == "true" else "not pred")
        elif role == RETURN:
            picks.append(RETURN)  # decided below, with what the other selects leave
        elif role == LOCAL:
            picks.append("false" if returning == "true" else "true")
        else:
            picks.append(_same_or_select(*sources[i]))
            if picks[-1] == "select":
                selected += _elements(t_jaxpr.out_avals[i])
    for i, pick in enumerate(picks):
        if pick == RETURN:  # selected if it fits what the other selects leave; else taken
            size = _elements(t_jaxpr.out_avals[i])  # as is (unread unless returned)
            if selected + size <= _MAX_SELECTED:
                picks[i], selected = "select", selected + size
            else:
                picks[i] = returning
    return _checked(t_jaxpr, f_jaxpr, picks)


def _select_all(t_jaxpr, f_jaxpr, roles):
    """Per output 'same' or 'select', for an `if` without a return flag, or whose flag
    both sides set (`if left_early: return i` then `return -1` after a loop), on a platform
    where selecting beats branching; None when a side is not cheap and safe to run."""
    sources = [(_source(t_jaxpr, a), _source(f_jaxpr, b))
               for a, b in zip(t_jaxpr.jaxpr.outvars, f_jaxpr.jaxpr.outvars)]
    if any(role == FLAG and src != (_TRUE, _TRUE) for role, src in zip(roles, sources)):
        return None
    picks = [_same_or_select(*src) for src in sources]
    return _checked(t_jaxpr, f_jaxpr, picks, linear_floats=True)


def _same_or_select(t_src, f_src):
    return "same" if t_src is not None and t_src == f_src else "select"


def _checked(t_jaxpr, f_jaxpr, picks, linear_floats=False):
    """`picks`, or None when they select too many elements or a side would run an
    equation that is not safe to run unconditionally."""
    t_out, f_out = t_jaxpr.jaxpr.outvars, f_jaxpr.jaxpr.outvars
    if sum(_elements(v.aval) for v, p in zip(t_out, picks) if p == "select") > \
            _MAX_SELECTED:
        return None
    needed_t = [v for v, p in zip(t_out, picks) if p in ("true", "same", "select")]
    needed_f = [v for v, p in zip(f_out, picks) if p in ("false", "select")]
    if not (_speculable(t_jaxpr, needed_t, linear_floats) and
            _speculable(f_jaxpr, needed_f, linear_floats)):
        return None
    return picks


def _elements(aval):
    """How many elements a value has; a shape with a symbolic dimension (an export's
    batch) counts as too many to select in line."""
    size = 1
    for d in aval.shape:
        if not isinstance(d, int):
            return _MAX_SELECTED + 1
        size *= d
    return size


def cheap(closed):
    """Whether the traced computation `closed` may run where its result goes unused."""
    return _speculable(closed, closed.jaxpr.outvars)


def replay(closed, shape):
    """Run the traced computation `closed`, whose outputs have the structure of `shape`."""
    return _replay(closed, shape)


def _live_eqns(jaxpr, outvars):
    needed = {v for v in outvars if not isinstance(v, Literal)}
    live = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in needed for v in eqn.outvars):
            live.append(eqn)
            needed |= {v for v in eqn.invars if not isinstance(v, Literal)}
    return live[::-1]


# Operations whose partial derivatives are constants (or 0/1 picks): their values may be
# computed on an untaken side without poisoning a gradient (module docstring). A `mul`
# also, when _bounded_product allows it.
_LINEAR = frozenset({
    "add", "add_any", "sub", "neg", "mul", "max", "min", "abs", "select_n",
    "convert_element_type", "reshape", "squeeze", "expand_dims", "broadcast_in_dim",
    "slice", "dynamic_slice", "concatenate", "transpose", "copy", "copy_p", "reduce_sum"})


def _speculable(closed, outvars, linear_floats=False):
    if closed.effects:  # a print or callback must run exactly when its branch does
        return False
    live = _live_eqns(closed.jaxpr, outvars)
    computed = {v for eqn in live for v in eqn.outvars}
    return len(live) <= _MAX_EQNS and all(
        not list(jaxprs_in_params(eqn.params)) and
        (linear_floats and eqn.primitive.name in _LINEAR and (
            eqn.primitive.name != "mul" or _bounded_product(closed, eqn, computed)) or
         not any(jnp.issubdtype(v.aval.dtype, jnp.inexact) for v in eqn.outvars))
        for eqn in live)


def _bounded_product(closed, eqn, computed):
    """Whether a `mul`'s partial derivatives (each the other factor) are finite wherever
    the side's inputs are: a factor is a finite known number (a scaling), or neither factor
    is computed on the side. A computed factor may overflow to inf ((x * x) * x in
    float16), and the untaken side's zero cotangent times inf is NaN."""
    if any(_finite_constant(closed, v) for v in eqn.invars):
        return True
    return not any(v in computed for v in eqn.invars)


def _finite_constant(closed, var):
    if isinstance(var, Literal):
        value = var.val
    elif var in closed.jaxpr.constvars:
        value = closed.consts[closed.jaxpr.constvars.index(var)]
        if isinstance(value, jax.core.Tracer):
            return False  # a traced input: its gradient is wanted, and is the other factor
    else:
        return False
    return bool(np.all(np.isfinite(np.asarray(value))))


def _evaluate(closed, outvars):
    env = dict(zip(closed.jaxpr.constvars, closed.consts))

    def read(v):
        return v.val if isinstance(v, Literal) else env[v]

    for eqn in _live_eqns(closed.jaxpr, outvars):
        out = eqn.primitive.bind(*map(read, eqn.invars), **eqn.params)
        env.update(zip(eqn.outvars, out if eqn.primitive.multiple_results else [out]))
    return read


def _run(pred, t_jaxpr, f_jaxpr, picks, avals):
    t_out, f_out = t_jaxpr.jaxpr.outvars, f_jaxpr.jaxpr.outvars
    t_vals = _evaluate(t_jaxpr, [v for v, p in zip(t_out, picks)
                                 if p in ("true", "same", "select")])
    f_vals = _evaluate(f_jaxpr, [v for v, p in zip(f_out, picks) if p in ("false", "select")])
    out = []
    for a, b, aval, pick in zip(t_out, f_out, avals, picks):
        if pick in ("true", "same"):
            value = t_vals(a)
        elif pick == "false":
            value = f_vals(b)
        elif pick in ("pred", "not pred"):
            value = pred if pick == "pred" else jnp.logical_not(pred)
            value = jax.lax.convert_element_type(value, aval.dtype)
        else:
            p = jnp.broadcast_to(pred, aval.shape) if aval.shape else pred
            value = jax.lax.select(p, _typed(t_vals(a), aval), _typed(f_vals(b), aval))
        out.append(_typed(value, aval))
    return out


def _typed(value, aval):
    if not isinstance(value, jax.Array):
        return _constant(value, aval)
    if getattr(value, "weak_type", False) and not aval.weak_type:
        return jax.lax.convert_element_type(value, aval.dtype)
    return value


def _constant(value, aval):
    """A literal output as an array with the branch's dtype and weak type: a weakly typed
    constant (a Python number in the user's code) must stay weak, or a loop carrying it
    would see its dtype change."""
    value = np.asarray(value)
    if aval.weak_type:
        return jnp.asarray(value.item())
    return jnp.asarray(value, aval.dtype)
