"""`while` and `for`: Python iteration, or lax.while_loop / fori_loop / scan when traced.

A loop stays in Python while its condition and iterable are Python values; a traced
condition, a `range` with a traced bound, or a traced iterable makes it one XLA loop whose
carry is the loop's live state (see converters/control_flow.py) plus the Variables it
assigns. Without an early exit the loop lowers to exactly what one would write by hand:
`fori_loop` for ranges, `scan` over a tensor's leading axis, `while_loop` otherwise.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _index_bounds, _runtime_checks
from xlaflow._tape_diagnostics import note_unbounded_loop
from xlaflow.autograph.operators import logical
from xlaflow.autograph.operators import state as st
from xlaflow.autograph.operators.conditionals import tensor_if
from xlaflow.autograph.operators.dispatch import caller, is_traced, scalar_predicate
from xlaflow.autograph.operators.iterables import (
    TensorEnumerate,
    TensorRange,
    TensorZip,
    scan_inputs,
)
from xlaflow.autograph.operators.loop_state import Loop


def while_stmt(test, body, get_state, set_state, names, n_out, unsupported=(),
               extra_test=None, where=None):
    """`while test(): body()`, switching to lax.while_loop once the test is traced.

    `where` ('file:line') names the loop in errors: by default the statement calling this
    (converted code); xf.while_loop, calling it for the user, names the user's call.

    `extra_test` (the loop's break/return flags, or None) is checked apart from the user's
    test, so that a Python test that is False ends the loop in Python even while a flag
    is traced (a loop that never runs is not traced); once either is traced, one XLA loop
    tests both."""
    while True:
        go = True if extra_test is None else extra_test()
        if not is_traced(go) and not go:
            return
        cond = test()
        if not is_traced(cond) and not cond:
            return
        if is_traced(cond) or is_traced(go):
            where = where or caller()
            st.check_supported(unsupported, "while loop", where)
            loop = Loop(get_state, set_state, names, n_out, "while loop", where)
            both = test if extra_test is None else \
                (lambda: logical.and_(extra_test(), test))
            # loop.run calls the lambda at once: `loop` and `both` are this iteration's
            loop.run(lambda: _while(loop, both, body))  # noqa: B023
            return
        body()


def for_stmt(iterable, extra_test, body, get_state, set_state, names, n_out, unsupported=(),
             stop_on=None, where=None):
    """`for itr in iterable: body(itr)`, stopping when `extra_test()` is false; `where` as
    in while_stmt.

    `stop_on` (a lax loop only): (test, StopRecord) from candidate_stop, the loop also
    stopping before an element on which `test(element)` holds; the record says after the
    loop whether it did, and on which element."""
    tensor_range = isinstance(iterable, TensorRange)
    if drives_lax_loop(iterable):
        where = where or caller()
        st.check_supported(unsupported, "for loop", where)
        loop = Loop(get_state, set_state, names, n_out, "for loop", where)
        drive = _range if tensor_range else _scan
        loop.run(lambda: drive(loop, iterable, extra_test, body, stop_on))
        return
    if stop_on is not None:  # candidate_stop gives no record for what Python iterates
        raise RuntimeError("internal: a candidate stop test on a loop that runs in Python")
    tried = False
    for k, itr in enumerate(iterable):
        if extra_test is not None:
            go = extra_test()
            if is_traced(go):
                where = where or caller()
                # Tried once: a failed attempt ran the body's Python side effects (an append
                # to a Python list) with a traced counter, and would again each iteration.
                if not tried and type(iterable) is range and not unsupported:
                    tried = True
                    if _rest_as_lax_loop(iterable[k:], extra_test, body, get_state,
                                         set_state, names, n_out, where):
                        return
                # A tensor decided to stop early: the remaining Python iterations each run
                # under a lax.cond on that decision.
                tensor_if(go, lambda itr=itr: body(itr), lambda: None, get_state, set_state,
                          names, n_out, where)
                continue
            if not go:
                break
        body(itr)


def drives_lax_loop(iterable):
    """Whether a `for` over `iterable` is one lax loop (rather than iterated by Python)."""
    return isinstance(iterable, (TensorRange, TensorEnumerate, TensorZip)) or is_traced(
        iterable)


class StopRecord:
    """What a lax `for` loop with a candidate stop test (`if c: break` or `if c: return e`
    heading its body, see converters/loop_exits.py) tells the code after it: whether `c`
    stopped it, and the element it stopped on, which the target is then bound to as Python
    leaves it (and the loop's `else:` runs where it did not)."""

    def __init__(self, width):
        self.width = width  # the target unpacks the element into this many names; 0: a name
        self.stopped, self.element = False, None

    def test(self, fn, element):
        return fn(*element) if self.width else fn(element)


def candidate_stop(iterable, width):
    """A StopRecord for a loop over `iterable` that lax runs, None for one Python runs: a
    Python loop keeps the original body, as a test traced mid-way cannot pick an element."""
    return StopRecord(width) if drives_lax_loop(iterable) else None


def stopped(record):
    return record.stopped


def stop_element(record):
    return record.element


def _stop_terms(loop, extra_test, stop_on, element):
    """The loop's own stop tests as one traced `go` term, or None: the break/return flags,
    then `not c` on the candidate element (pure, so tested even when a flag is set)."""
    terms = []
    if extra_test is not None:
        terms.append(scalar_predicate(extra_test(), "for loop", loop.where))
    if stop_on is not None:
        test, record = stop_on
        terms.append(jnp.logical_not(scalar_predicate(record.test(test, element()),
                                                      "for loop", loop.where)))
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else jnp.logical_and(*terms)


def _record_stop(loop, extra_test, stop_on, more, element):
    """After the loop: it stopped on its candidate where elements remained (`more`) and no
    break/return flag (which the loop tests first) had stopped it."""
    record = stop_on[1]
    if extra_test is not None:
        more = jnp.logical_and(more, scalar_predicate(extra_test(), "for loop", loop.where))
    record.stopped, record.element = more, element


def _after_loop(loop, out, stop_point, extra_test, stop_on, ran_needed):
    """After the lax loop (`out`: counter, carry[, ran]): its state out, the candidate
    stop recorded (`stop_point()`: whether elements remained, and the one at the counter,
    past the last when not stopped, never read then; traced only for a candidate stop),
    and the ran-check. A loop its candidate test
    stopped before the first element did not run, yet the names first assigned in it are
    not read after it (loop_exits.py checks): no error then."""
    loop.exit(out[1])
    if stop_on is not None:
        _record_stop(loop, extra_test, stop_on, *stop_point())
    if ran_needed:
        loop.check_ran(out[2] if stop_on is None else
                       jnp.logical_or(out[2], stop_on[1].stopped))


def _rest_as_lax_loop(rest, extra_test, body, get_state, set_state, names, n_out, where):
    """Run the rest of a Python `range` loop that a tensor may now stop (a `break` or
    `return` under a tensor `if`) as one lax loop: unrolled, each iteration would be a
    lax.cond of its own, and compile time would grow with the range's length. A carry a
    gradient may flow through makes it a scan over the rest (see _bounded_while). False, with
    nothing changed, when the body needs its counter as a Python int (it is traced here):
    the iterations are then unrolled."""
    if len(rest) < 2:
        return False
    loop = Loop(get_state, set_state, names, n_out, "for loop", where)
    mark = loop.variables.mark()
    try:
        loop.run(lambda: _range(loop, TensorRange(rest.start, rest.stop, rest.step),
                                extra_test, body, None))
    except Exception:  # noqa: BLE001 - unrolled, the body raises again if it really fails
        loop.reset(mark)
        return False
    return True


# -- drivers ------------------------------------------------------------------------------

def _while(loop, test, body):
    loop.probe_body = body
    init = loop.init_carry()
    ran_needed = bool(loop.needs_ran_check)

    def cond_fun(carry):
        loop.enter(carry[0])
        return scalar_predicate(test(), "while loop", loop.where)

    def body_fun(carry):
        loop.enter(carry[0])
        new, _ = loop.iterate(body, ())
        return (new, True) if ran_needed else (new,)

    carry = (init, jnp.asarray(False)) if ran_needed else (init,)
    note_unbounded_loop(loop.where)
    out = jax.lax.while_loop(cond_fun, body_fun, carry)
    if ran_needed:
        loop.check_ran(out[1])
    loop.exit(out[0])


def _range(loop, rng, extra_test, body, stop_on):
    start, stop, step = rng.start, rng.stop, rng.step
    if is_traced(step):  # Python raises for a zero step; a traced one is checked at run time
        _runtime_checks.check(step != 0, lambda: ValueError("range() arg 3 must not be zero"))
    if rng.item is not None:
        run = body

        def body(i):
            run(rng.item(i))
    simple = extra_test is None and stop_on is None and not is_traced(step)
    # A counter with static bounds is known to stay in them: index checks on it
    # (TensorArray.write(i, ...)) are dropped (see _index_bounds)
    static = simple and step == 1 and not (is_traced(start) or is_traced(stop))
    bounds = (int(start), int(stop)) if static else None

    def probe_body(i):  # the abstract pass knows the bounds too: a write needs those rows
        with _index_bounds.counter(i, *bounds) if bounds else contextlib.nullcontext():
            body(i)

    loop.probe_body = probe_body
    # Python bounds: the trip count is known, by which the loop grows dynamic arrays
    trips = rng.trips() if simple and not (is_traced(start) or is_traced(stop)) else None
    init = loop.init_carry(lambda: (jnp.asarray(start),), trips)
    ran_needed = bool(loop.needs_ran_check)
    if simple:

        def step_fn(k, carry):
            loop.enter(carry[0])
            i = k if step == 1 else rng.value(k)
            with _index_bounds.counter(i, *bounds) if bounds else contextlib.nullcontext():
                new, _ = loop.iterate(body, (i,))
            return (new, True) if ran_needed else (new,)

        carry = (init, jnp.asarray(False)) if ran_needed else (init,)
        if is_traced(start) or is_traced(stop):  # static bounds make fori_loop a scan
            note_unbounded_loop(loop.where)
        if step == 1:
            out = jax.lax.fori_loop(start, stop, step_fn, carry)
        else:
            trips = rng.trips()  # unsigned: it may pass the signed maximum
            out = jax.lax.fori_loop(jnp.zeros((), trips.dtype), trips, step_fn, carry)
        if ran_needed:
            loop.check_ran(out[1])
        loop.exit(out[0])
        return
    # Counted by trips, not by testing the counter against `stop`: `i + step` could
    # overflow the counter's type past a bound near its limit and never stop.
    trips = rng.trips()

    def cond_fun(carry):
        k, inner = carry[0], carry[1]
        loop.enter(inner)
        more = k < trips
        go = _stop_terms(loop, extra_test, stop_on, lambda: rng.element(k))
        return more if go is None else jnp.logical_and(more, go)

    def body_fun(carry):
        k, inner = carry[0], carry[1]
        loop.enter(inner)
        new, _ = loop.iterate(body, (rng.value(k),))
        return (k + 1, new, True) if ran_needed else (k + 1, new)

    # A Python range's values are Python ints: its counter is weakly typed, so that
    # `int8_array * i` after the loop stays int8 as in Python.
    first = jnp.asarray(0) if isinstance(trips, int) else jnp.zeros(
        (), jnp.result_type(trips))
    carry = (first, init, jnp.asarray(False)) if ran_needed else (first, init)
    if isinstance(trips, int) and _differentiable(init):
        out = _bounded_while(trips, cond_fun, body_fun, carry)
    else:
        note_unbounded_loop(loop.where)
        out = jax.lax.while_loop(cond_fun, body_fun, carry)
    _after_loop(loop, out, lambda: (out[0] < trips, rng.element(out[0])), extra_test,
                stop_on, ran_needed)


class _Rows:
    """The k-th element of the arrays `xs` a loop walks: computed from k for the arrays whose
    values are a known progression (xf.range, enumerate's counter; see
    _index_bounds.progression), read from the others, which alone are scanned."""

    def __init__(self, xs):
        leaves, self.treedef = jax.tree_util.tree_flatten(xs)
        self.known = [_index_bounds.progression(leaf) for leaf in leaves]
        self.leaves = leaves
        self.scanned = [leaf for leaf, p in zip(leaves, self.known) if p is None]
        self.counted = len(self.scanned) < len(leaves)

    def _computed(self, k, leaf, known):
        # In the array's own type, strongly typed as its rows were. start and step are
        # taken modulo its width (np's cast wraps), as is k: integer arithmetic wraps, so
        # the sum is exact wherever the value itself fits, which every element does.
        start, step = known
        value = k.astype(leaf.dtype)
        if step != 1:
            value = value * np.asarray(step).astype(leaf.dtype)
        return value if start == 0 else value + np.asarray(start).astype(leaf.dtype)

    def element(self, k, scanned):
        """The element at counter `k`, given the scanned arrays' rows `scanned`."""
        rows = iter(scanned)
        return self.treedef.unflatten([
            next(rows) if p is None else self._computed(k, leaf, p)
            for leaf, p in zip(self.leaves, self.known)])

    def at(self, k, read):
        """The element at a traced index `k`, reading a scanned array's row with `read`."""
        return self.element(k, [read(leaf) for leaf in self.scanned])


def _differentiable(carry):
    """Whether a gradient may flow through `carry` (it has a floating-point leaf)."""
    return any(jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)
               for leaf in jax.tree_util.tree_leaves(carry))


def _bounded_while(trips, cond_fun, body_fun, carry):
    """lax.while_loop(cond_fun, body_fun, carry) that runs at most `trips` (a Python int)
    times, as a scan whose steps run the body only while `cond_fun` holds: reverse mode
    differentiates a scan but not a while loop (a Python range with a tensor `break`)."""
    def step(carry, _):
        return jax.lax.cond(cond_fun(carry), body_fun, lambda c: c, carry), None

    return jax.lax.scan(step, carry, None, length=trips)[0]


def _scan(loop, iterable, extra_test, body, stop_on):
    xs, n, make = scan_inputs(iterable)

    def probe_body(x):  # the abstract pass knows the counters' bounds too (see _range)
        with _index_bounds.scanned(xs, x):
            body(make(x))

    loop.probe_body = probe_body
    # Without break or return the loop runs n times, by which it grows dynamic arrays (n
    # known when tracing: not a size an input_signature leaves None, traced symbolically)
    trips = n if extra_test is None and stop_on is None and isinstance(n, int) else None
    if n == 0:  # statically empty: the body never runs and the state stays as it is,
        loop.allocate_only(  # but for the element shape of the dynamic arrays it writes
            lambda: (jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(
                x.shape[1:], x.dtype), xs),), trips)
        return
    init = loop.init_carry(lambda: (jax.tree_util.tree_map(lambda x: x[0], xs),), trips)
    ran_needed = bool(loop.needs_ran_check)
    rows = _Rows(xs)
    if extra_test is None and stop_on is None:
        loop.stacking = True

        counted = rows.counted  # then a counter is carried, last

        def step_fn(carry, scanned):
            loop.enter(carry[0])
            x = rows.element(carry[-1] if counted else None, scanned)
            with _index_bounds.scanned(xs, x):
                new, appended = loop.iterate(lambda: body(make(x)), ())
            out = (new, True) if ran_needed else (new,)
            return (out + (carry[-1] + 1,) if counted else out), appended

        carry = (init, jnp.asarray(False)) if ran_needed else (init,)
        out, stacked = jax.lax.scan(step_fn, carry + (jnp.asarray(0),) if counted else carry,
                                    rows.scanned, length=n)
        if ran_needed:
            loop.check_ran(out[1])
        loop.exit(out[0], stacked)
        return

    def row(i):  # clamped to the last row: the candidate past the end is never used
        return make(rows.at(i, lambda t: jax.lax.dynamic_index_in_dim(t, i, keepdims=False)))

    def cond_fun(carry):
        loop.enter(carry[1])
        go = _stop_terms(loop, extra_test, stop_on, lambda: row(carry[0]))
        return jnp.logical_and(carry[0] < n, go)

    def body_fun(carry):
        i = carry[0]
        loop.enter(carry[1])
        x = rows.at(i, lambda t: t[i])
        new, _ = loop.iterate(lambda: body(make(x)), ())
        return (i + 1, new, True) if ran_needed else (i + 1, new)

    carry = (jnp.asarray(0), init, jnp.asarray(False)) if ran_needed else (jnp.asarray(0), init)
    note_unbounded_loop(loop.where)
    out = jax.lax.while_loop(cond_fun, body_fun, carry)
    _after_loop(loop, out, lambda: (out[0] < n, row(out[0])), extra_test, stop_on,
                ran_needed)
