"""One traced loop's state: the names and Variables a tensor loop carries, converted to a
lax carry and back, with the checks that name a variable when its carry does not fit."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import _runtime_checks
from xlaflow._tensor_array_loops import (
    allocated_like,
    grown_like,
    holds_dynamic,
    holds_unallocated,
    labelled,
    probing,
    regrown,
)
from xlaflow.autograph.operators import state as st
from xlaflow.autograph.operators.lists import Accumulator, extend_from_loop
from xlaflow.autograph.operators.variables import Undefined, UndefinedReturnValue

_RETRIES = 4


class Loop:
    """One traced loop: converts its state to a carry and back, and tracks what it assigns."""

    def __init__(self, get_state, set_state, names, n_out, what, where):
        self.get_state, self.set_state = get_state, set_state
        self.names, self.what, self.where = names[:n_out], what, where
        st.check_globals(self.names, what, where)
        self.init = get_state()
        self.carried, self.temps = list(self.init[:n_out]), tuple(self.init[n_out:])
        # Lists the body appends to are stacked per iteration; other lists are state like
        # tuples (rebuilt each iteration, `st = [a + b, b]`).
        # An enclosing tensor loop's Accumulator (nested loops appending to one list) is
        # stacked here too, and its items handed on to that loop.
        self.lists = {i for i, v in enumerate(self.carried)
                      if isinstance(v, (list, Accumulator)) and
                      self.names[i].startswith("append:")}
        self.variables = st.Variables()
        self.undefined = [i for i, v in enumerate(self.carried)
                          if isinstance(v, (Undefined, UndefinedReturnValue))]
        # TensorArrays carried are named after their variable in errors; those not written
        # yet get their element shape from one abstract pass of the body (init_carry).
        for i in range(len(self.carried)):
            if i not in self.lists:
                self.carried[i] = labelled(self.carried[i], st.display(self.names[i]))
        self.unallocated = [i for i, v in enumerate(self.carried)
                            if i not in self.lists and holds_unallocated(v)]
        self.fresh = tuple(self.carried)  # before the abstract pass allocates (retries)
        self.last_out = None

    def run(self, drive):
        for _ in range(_RETRIES):
            mark = self.variables.mark()
            try:
                drive()
                return
            except st.MoreVariables as more:
                self.reset(mark)
                self.variables.add(more.variables)
            except TypeError as error:
                self.reset(mark)
                self._explain(error)
                raise
        raise RuntimeError(f"{self.where}: the Variables this {self.what} assigns kept "
                           "changing while it was traced")

    def reset(self, mark):
        if mark is not None:
            self.variables.restore(mark)
        self.set_state(self.init)

    # -- carry ------------------------------------------------------------------------------
    def init_carry(self, probe_args=tuple, trips=None):
        """The loop's initial carry; `probe_args()` gives the body's arguments for the
        abstract pass that types names first assigned inside the loop and the TensorArrays
        it first writes. `trips`: the loop's trip count when known while tracing (a Python
        int), by which it grows the dynamic_size TensorArrays it writes past their rows."""
        self.carried = list(self.fresh)  # a retry starts again from the same state
        grow = [] if trips is None else [i for i, v in enumerate(self.carried)
                                         if i not in self.lists and holds_dynamic(v)]
        if self.undefined or self.unallocated or grow:
            self._probe(probe_args(), grow, trips)
        values = tuple(None if i in self.lists else st.to_lax(v, n, self.what, self.where)
                       for i, (v, n) in enumerate(zip(self.carried, self.names)))
        return values, self.variables.values()

    def allocate_only(self, probe_args, trips):
        """For a loop that never runs (0 trips, known while tracing; None: not known): the
        dynamic TensorArrays it carries unwritten take the element shape its body's first
        write gives them, with no rows, as TF's tf.function infers it; nothing else changes."""
        wanted = [i for i in self.unallocated if holds_dynamic(self.carried[i])]
        if trips is None or not wanted:
            return
        try:
            self._probe(probe_args(), wanted, trips)
        # a body that cannot be traced with no rows (x[i] of an empty x): they stay
        # unwritten, and stack() asks for element_shape=
        except Exception:  # noqa: BLE001
            self.set_state(self.init)
            self.carried = list(self.fresh)
            return
        state = list(self.init)
        for i in wanted:
            state[i] = self.carried[i]
        self.set_state(tuple(state))  # self.init holds the temporaries too

    def enter(self, carry):
        values, var_values = carry
        state = list(values)
        for i in self.lists:
            state[i] = Accumulator(st.display(self.names[i]))
        self.set_state(tuple(state) + self.temps)
        self.variables.install(var_values)

    def leave(self, mark, stacking):
        state = self.get_state()[:len(self.names)]
        values, appended = [], []
        for i, (value, name) in enumerate(zip(state, self.names)):
            if i in self.lists:
                appended.append(self._appended(value, name, stacking))
                values.append(None)
            else:
                values.append(st.to_lax(value, name, self.what, self.where))
        self.last_out = values
        return (tuple(values), self.variables.finish(mark)), tuple(appended)

    def _appended(self, value, name, stacking):
        if not isinstance(value, Accumulator):
            raise TypeError(f"{self.where}: list '{st.display(name)}' is rebound inside this "
                            f"tensor {self.what}; only .append() is supported on it there.")
        if value.items and not stacking:
            raise TypeError(
                f"{self.where}: appending to list '{st.display(name)}' in a loop whose number "
                "of iterations depends on a tensor (a while loop, range() with a tensor bound, "
                "or a loop with break/return) is not supported: the list's length would only "
                "be known at run time. Preallocate an array and write into it "
                "(buf = buf.at[i].set(value)), or loop over a tensor (for row in x:), which "
                "stacks what is appended.")
        for item in value.items:  # stacked along the iterations: arrays only
            for leaf in jax.tree_util.tree_leaves(item, is_leaf=st.is_variable):
                if not isinstance(leaf, st._VALUES) and not st.is_variable(leaf):
                    raise TypeError(
                        f"{self.where}: list '{st.display(name)}' is given a "
                        f"{type(leaf).__name__} ({st._short(leaf)}) by .append() inside this "
                        f"tensor {self.what}, which stacks what is appended along its "
                        "iterations: only tensors, numbers and tuples/lists/dicts of them "
                        "can be stacked. Build such a list in a Python loop instead.")
        return tuple(value.items)

    def exit(self, carry, stacked=None):
        values, var_values = carry
        state = list(values)
        for k, i in enumerate(sorted(self.lists)):
            state[i] = self.carried[i]  # the user's list: other references see its items
            if stacked is not None and stacked[k]:
                target = state[i].items if isinstance(state[i], Accumulator) else state[i]
                extend_from_loop(target, stacked[k])
        self.set_state(tuple(state) + self.temps)
        self.variables.commit(var_values)

    def iterate(self, body, mark_args):
        """Trace one pass of the body from a carry; returns (new carry, appended)."""
        mark = self.variables.mark()
        try:
            with st.traced_block(self.what, self.where):
                body(*mark_args)
            return self.leave(mark, self.stacking)
        except BaseException:
            if mark is not None:
                self.variables.restore(mark)
            raise

    stacking = False

    # -- what one abstract pass of the body tells --------------------------------------------
    def _probe(self, probe_args, grow=(), trips=None):
        """From one abstract pass of the body (no effect kept): give names first assigned
        inside the loop a typed placeholder, checking at run time that the loop ran before
        they are used; allocate the TensorArrays it carries unwritten with the element
        shape its first write gives them (TF infers it so), as a lax carry has fixed shapes;
        and grow by `trips` rows the dynamic arrays (`grow`) it writes past their rows."""
        defined = {i: v for i, v in enumerate(self.carried) if i not in self.undefined}
        records = {}
        for i in grow:  # the pass sees them grown, as the loop would, and notes the need
            defined[i], records[i] = probing(defined[i], trips)
        wanted = self.undefined + self.unallocated + [i for i in grow
                                                      if i not in self.unallocated]

        def probe(values, var_values, *args):
            state = list(self.carried)
            for (i, _), value in zip(sorted(defined.items()), values):
                state[i] = value if i not in self.lists else Accumulator("probe")
            self.set_state(tuple(state) + self.temps)
            mark = self.variables.mark()  # before install: the probe's values must not stay
            self.variables.install(var_values)
            try:
                with st.traced_block(self.what, self.where):
                    self.probe_body(*args)
                out = self.get_state()
            finally:
                if mark is not None:
                    self.variables.restore(mark)
            return [st.to_lax(out[i], self.names[i], self.what, self.where) for i in wanted]

        inputs = tuple(None if i in self.lists else st.to_lax(v, self.names[i], self.what,
                                                                self.where)
                       for i, v in sorted(defined.items()))
        with _runtime_checks.abstract_pass():
            shapes = jax.eval_shape(probe, inputs, self.variables.values(), *probe_args)
        self.set_state(self.init)
        for i, shape in zip(wanted, shapes):
            if i in records:
                self.carried[i] = grown_like(self.carried[i], shape, trips, records[i])
                continue
            if i in self.unallocated:
                self.carried[i] = allocated_like(self.carried[i], shape)
                continue
            # a name first assigned in the loop: a placeholder of its type (a TensorArray
            # first made there included, named after the variable in errors)
            self.carried[i] = labelled(jax.tree_util.tree_map(
                lambda s: jnp.zeros(s.shape, s.dtype), shape), st.display(self.names[i]))
        self.needs_ran_check = [st.display(self.names[i]) for i in self.undefined
                                if not isinstance(self.init[i], UndefinedReturnValue)]

    needs_ran_check = ()

    def check_ran(self, ran):
        if not self.needs_ran_check:
            return
        names = ", ".join(f"'{n}'" for n in self.needs_ran_check)
        where = self.where
        _runtime_checks.check(ran, lambda: ValueError(
            f"{where}: {names} is first assigned inside this loop, which ran zero times, so it "
            "has no value after the loop. Assign it before the loop."))

    def _explain(self, error):
        """Re-raise a carry mismatch from lax as a message naming the variable."""
        if self.last_out is None:
            return
        for i, (before, after) in enumerate(zip(self.carried, self.last_out)):
            if i in self.lists or isinstance(before, (Undefined, UndefinedReturnValue)):
                continue
            before = st.to_lax(before, self.names[i], self.what, self.where)
            label = regrown(before, after)
            if label is not None:
                raise NotImplementedError(
                    f"{self.where}: TensorArray '{label}' grows inside this tensor "
                    f"{self.what}, which carries it: an inner loop grew it by its own trip "
                    "count, but this loop's carry keeps one shape (XLA arrays have fixed "
                    "shapes). A dynamic_size array grows only by the trip count of the one "
                    "compiled loop writing it. Create it with size=<number of writes> (a "
                    "Python int), or append to a Python list and tf.stack it.") from error
            if not _agree(before, after):
                raise TypeError(
                    f"{self.where}: '{st.display(self.names[i])}' is {st.describe(before)} "
                    f"before this tensor {self.what} but {st.describe(after)} after one "
                    "iteration. A loop-carried value must keep its structure, shape and dtype; "
                    "initialize it with the shape and dtype the loop gives it.") from error


def _agree(before, after):
    """Whether a lax loop takes `after` as the next carry for `before`: same structure and
    shapes, and the same dtypes unless `before` is a weakly typed number, which lax
    promotes (0 -> 0.5) unless it is a bool (False -> 1 is refused)."""
    leaves_b, tree_b = jax.tree_util.tree_flatten(before)
    leaves_a, tree_a = jax.tree_util.tree_flatten(after)
    return tree_a == tree_b and all(
        jnp.shape(b) == jnp.shape(a) and (
            jnp.result_type(b) == jnp.result_type(a) or (
                getattr(b, "weak_type", False) and jnp.result_type(b) != jnp.bool_))
        for b, a in zip(leaves_b, leaves_a))


