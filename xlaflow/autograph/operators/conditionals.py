"""`if` statements and conditional expressions: Python branch, or lax.cond when traced."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow._tensor_array_loops import allocated_like, holds_unallocated
from xlaflow.autograph.operators import speculation
from xlaflow.autograph.operators import state as st
from xlaflow.autograph.operators.dispatch import caller, is_traced, scalar_predicate
from xlaflow.autograph.operators.lists import Accumulator
from xlaflow.autograph.operators.variables import Undefined, UndefinedReturnValue

_RETRIES = 4


def if_stmt(cond, body, orelse, get_state, set_state, names, n_out, unsupported=(),
            where=None):
    """Run `body` or `orelse`; when `cond` is traced, both become branches of lax.cond.
    `where` names the statement in errors (by default the converted code calling this)."""
    if not is_traced(cond):
        if cond:
            body()
        else:
            orelse()
        return
    where = where or caller()
    st.check_supported(unsupported, "`if`", where)
    tensor_if(cond, body, orelse, get_state, set_state, names, n_out, where)


def tensor_if(cond, body, orelse, get_state, set_state, names, n_out, where):
    st.check_globals(names[:n_out], "if statement", where)
    pred = scalar_predicate(cond, "`if`", where)
    init = get_state()
    variables = st.Variables()
    seen, kept = {}, {}
    plan = _Plan()
    for _ in range(_RETRIES):
        branches = [_branch(fn, label, init, get_state, set_state, names, n_out, variables,
                            seen, plan, where, kept) for fn, label in ((body, "true"),
                                                                 (orelse, "false"))]
        try:
            outs, var_outs = speculation.cond(pred, *branches,
                                              roles=lambda shape: _roles(shape, names))
            break
        except st.MoreVariables as more:
            variables.add(more.variables)
            set_state(init)
        except TypeError:
            set_state(init)
            if len(seen) < 2 or not plan.reconcile(seen, names[:n_out], where):
                raise
    else:
        raise RuntimeError(f"{where}: the Variables or value types this tensor `if` produces "
                           f"kept changing over {_RETRIES} traces")
    set_state(tuple(Accumulator(v.name, v.items + list(o)) if isinstance(v, Accumulator)
                    else _in_place(v, o) if i in kept.get("true", ()) and
                    i in kept.get("false", ()) else o
                    for i, (v, o) in enumerate(zip(init, outs))) + tuple(init[n_out:]))
    variables.commit(var_outs)


def _in_place(original, out):
    """A list both branches only mutated (appended to, not rebound) keeps its identity, as
    in Python: aliases and a caller's list see the items."""
    original[:] = out
    return original


def _fork(value):
    """A branch's own copy of a list it may append to (the other branch must not see the
    item); a loop's Accumulator forks so that the items each branch appends leave the `if`
    as its outputs."""
    if type(value) is list:
        return list(value)
    return value.fork() if isinstance(value, Accumulator) else value


def _leaving(value):
    return value.appended() if isinstance(value, Accumulator) else value


def _roles(shape, names):
    """Each output leaf's role for speculation.cond, from the state names' labels."""
    outs, var_outs = shape
    roles = []
    for value, name in zip(outs, names):
        kind = name.rpartition(":")[0]
        role = {"flag": speculation.FLAG, "return": speculation.RETURN}.get(kind) or (
            speculation.LOCAL if st.is_plain_local(name) else speculation.STATE)
        roles += [role] * len(jax.tree_util.tree_leaves(value))
    return roles + [speculation.STATE] * len(jax.tree_util.tree_leaves(var_outs))


class _Plan:
    """How to make the two branches' outputs agree: promote weakly typed numbers, give
    a return value missing on one path a placeholder (the `do_return` flag says it is
    unused there), and allocate a TensorArray that only the other branch writes first
    (with the shape that write gives it; its rows stay zeros, as TF reads unwritten ones)."""

    def __init__(self):
        self.dtypes = None
        self.fills = {}
        self.arrays = {}

    def apply(self, outs):
        outs = list(outs)
        for i, spec in self.fills.items():
            if st.is_return_value(outs[i]):
                outs[i] = st.zeros_like_spec(spec)
        for i, specs in self.arrays.items():
            for spec in specs:
                outs[i] = allocated_like(outs[i], spec)
        return st.cast_to(tuple(outs), self.dtypes)

    def reconcile(self, seen, names, where):
        """Update the plan from both branches' outputs; False if nothing could change."""
        before = (self.dtypes, dict(self.fills), set(self.arrays))
        dtypes = []
        for i, name in enumerate(names):
            a, b = seen["true"][i], seen["false"][i]
            if holds_unallocated(a) or holds_unallocated(b):
                specs = tuple(jax.tree_util.tree_map(  # types only: values are tracers
                    lambda x: jax.ShapeDtypeStruct(jnp.shape(x), x.dtype), v) for v in (a, b))
                a, b = (allocated_like(allocated_like(v, specs[0]), specs[1]) for v in (a, b))
                if not (holds_unallocated(a) or holds_unallocated(b)):
                    self.arrays[i] = specs
            if (st.is_return_name(name) or st.is_plain_local(name)) and \
                    st.is_return_value(a) != st.is_return_value(b):
                self.fills[i] = jax.tree_util.tree_map(  # types only: values are tracers
                    lambda x: jax.ShapeDtypeStruct(jnp.shape(x), x.dtype),
                    b if st.is_return_value(a) else a)
                dtypes.append([])
                continue
            try:
                dtypes.append(st.promoted(a, b))
            except st.Mismatch:
                raise _mismatch(name, a, b, where) from None
        self.dtypes = tuple(dtypes)
        return (self.dtypes, self.fills, set(self.arrays)) != before


def _mismatch(name, a, b, where):
    if st.is_return_name(name):
        return TypeError(
            f"{where}: the function returns {st.describe(a)} on one path of this tensor `if` "
            f"and {st.describe(b)} on the other. Every path through a tensor-dependent branch "
            "must return a value of the same structure, shape and dtype.")
    return TypeError(
        f"{where}: '{st.display(name)}' is {st.describe(a)} in the true branch of this tensor "
        f"`if` but {st.describe(b)} in the false branch. A value that leaves a "
        "tensor-dependent `if` must have the same structure, shape and dtype on both "
        "branches; give it a value of the same kind in both.")


def _branch(fn, label, init, get_state, set_state, names, n_out, variables, seen, plan,
            where, kept):
    def run():
        forks = tuple(_fork(v) for v in init)
        set_state(forks)
        mark = variables.mark()
        try:
            try:
                with st.traced_block("if statement", where):
                    fn()
            except Exception as exc:
                _note_traced_branch(exc, label, where)
                raise
            state = get_state()
            kept[label] = {i for i, (v, f) in enumerate(zip(state[:n_out], forks))
                           if type(v) is list and v is f}
            # A branch that returns need not define the plain locals the rest of the
            # function reads: all of it runs only if the function has not returned. Such
            # a name gets the other branch's type as a placeholder (see _Plan).
            returned = any(st.is_flag_name(n) and v is True
                           for v, n in zip(state[:n_out], names))
            outs = tuple(UndefinedReturnValue() if returned and isinstance(v, Undefined) and
                         st.is_plain_local(n) else _output(v, n, label, where)
                         for v, n in zip(state[:n_out], names))
            var_outs = variables.finish(mark)
        except BaseException:
            if mark is not None:
                variables.restore(mark)
            raise
        seen[label] = outs
        return plan.apply(outs), var_outs

    return run


def _output(value, name, label, where):
    """A branch's value of `name` as lax.cond's output; unbound, an error naming the branch
    (TF: "must also be initialized in the else branch")."""
    if isinstance(value, Undefined):
        raise NameError(  # noqa: TRY004 - an unbound name: Python's NameError
            f"{where}: '{st.display(name)}' has no value on one path through this `if`: its "
            f"{label} branch leaves it unassigned (or deletes it). The condition is a tensor, "
            "so both branches must give it a value: assign it before the `if` or in both.")
    return st.to_lax(_leaving(value), name, "`if`", where)


def _note_traced_branch(exc, label, where):
    note = (f"(raised while tracing the {label} branch of the tensor-dependent `if` at "
            f"{where}: both branches are traced for every input, so an error or `raise` in "
            "either one happens whatever the condition's value; check values at run time "
            "with `assert`)")
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def select_return(cond, value, current):
    """`value() if cond else current`, for the function's return value (converters/returns.py).

    Traced, a cheap `value` (see speculation.cheap) is computed unconditionally and selected,
    or taken as is when no return value was set before: the `do_return` flag then says
    whether it is read. Anything else goes through a lax.cond.
    """
    if not is_traced(cond):
        return value() if cond else current
    closed, shape = jax.make_jaxpr(value, return_shape=True)()
    undefined = isinstance(current, UndefinedReturnValue)
    if speculation.cheap(closed):
        computed = speculation.replay(closed, shape)
        if undefined:
            return computed
        pairs = list(zip(jax.tree_util.tree_leaves(computed),
                         jax.tree_util.tree_leaves(current)))
        same = jax.tree_util.tree_structure(computed) == jax.tree_util.tree_structure(
            current) and all(jnp.shape(a) == jnp.shape(b) and
                             jnp.result_type(a) == jnp.result_type(b) for a, b in pairs)
        if same:
            pred = scalar_predicate(cond, "`return`", caller())
            return jax.tree_util.tree_map(
                lambda a, b: jax.lax.select(jnp.broadcast_to(pred, jnp.shape(a)), a, b),
                computed, current)
    if undefined:
        current = st.zeros_like_spec(shape)
    # the trace made above, replayed: the user's expression is not run a second time
    return if_exp(cond, lambda: speculation.replay(closed, shape), lambda: current)


def if_exp(cond, if_true, if_false):
    """`a if cond else b`, lazily; a traced `cond` selects with lax.cond."""
    if not is_traced(cond):
        return if_true() if cond else if_false()
    where = caller()
    pred = scalar_predicate(cond, "conditional expression", where)
    seen = {}

    def branch(fn, label, dtypes):
        def run():
            with st.traced_block("conditional expression", where):
                value = fn()
            out = st.to_lax(value, "<expression>", "conditional expression", where)
            seen[label] = out
            return st.cast_to((out,), dtypes)[0]
        return run

    try:
        return jax.lax.cond(pred, branch(if_true, "true", None), branch(if_false, "false", None))
    except TypeError:
        if len(seen) < 2:
            raise
        try:
            common = [st.promoted(seen["true"], seen["false"])]
        except st.Mismatch:
            raise TypeError(
                f"{where}: the two values of this conditional expression differ: "
                f"{st.describe(seen['true'])} if true, {st.describe(seen['false'])} if false; "
                "a tensor-dependent choice needs values of the same structure and shape."
            ) from None
        return jax.lax.cond(pred, branch(if_true, "true", common),
                            branch(if_false, "false", common))
