"""A tensor `if` that returns from a loop runs both sides in line, where that is safe.

Oracle: the same Python function run on NumPy values. The structural tests check that the
bookkeeping branch left no lax.cond in the loop body, and that anything with effects,
floating-point work or shared state still goes through an exact lax.cond.
"""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp
from jax.extend.core import jaxprs_in_params

import xlaflow as xf


def search_while(x, target):
    i = 0
    while i < x.shape[0]:
        v = x[i]  # the `if` is not the body's first statement: a return flag is kept
        if v > target:
            return i
        i += 1
    return -1


def search_for(x, target):
    for i in range(x.shape[0]):
        if x[i] > target:
            return i * 10
    return -1


def weighted_until_negative(xs):
    acc = 0.0
    for x in xs:
        if x < 0:
            return acc
        acc = acc + jnp.sqrt(x)
    return acc


def scaled_first_above(x, target):
    i = 0
    while i < x.shape[0]:
        v = x[i]
        if v > target:
            return v * 2.0  # floating-point work: stays inside a lax.cond
        i += 1
    return -1.0


class Steps:
    pass


def count_steps(box, x, target):
    box.steps = 0
    i = 0
    while i < x.shape[0]:
        if x[i] > target:
            return i
        box.steps += 1
        i += 1
    return -1


def shared_counter(x, target):
    steps = 0

    def find():
        nonlocal steps
        i = 0
        while i < x.shape[0]:
            if x[i] > target:
                return i
            steps += 1
            i += 1
        return -1

    found = find()
    return found, steps


def primitives(jaxpr):
    names = []
    for eqn in jaxpr.eqns:
        names.append(eqn.primitive.name)
        for sub in jaxprs_in_params(eqn.params):
            names += primitives(sub)
    return names


def loop_body(fn, *args):
    jaxpr = jax.make_jaxpr(xf.autograph.to_graph(fn))(*args).jaxpr
    loop = next(e for e in jaxpr.eqns if e.primitive.name == "while")
    return primitives(loop.params["body_jaxpr"].jaxpr)


# No subnormals: XLA:CPU flushes them to zero, so 4e-45 > 0 is False there and True in
# NumPy, a difference of the backend, not of the conversion.
# A few lengths, each one compile per function: one element (first is last), short, long.
vectors = hnp.arrays(np.float32, hs.sampled_from([1, 2, 5, 12]), elements=hs.floats(
    -50, 50, width=32, allow_nan=False, allow_subnormal=False))
targets = hs.floats(-60, 60, width=32, allow_nan=False,
                    allow_subnormal=False).map(np.float32)


# made once: each drawn length is traced and compiled once, that program then checked on
# every example of the length
compiled_search_while = xf.function(search_while)
compiled_search_for = xf.function(search_for)


@settings(max_examples=30, deadline=None)
@given(vectors, targets)
def test_search_agrees_with_python(x, target):
    got = compiled_search_while(jnp.asarray(x), jnp.float32(target))
    assert int(got) == search_while(x, target)
    got = compiled_search_for(jnp.asarray(x), jnp.float32(target))
    assert int(got) == search_for(x, target)


def test_return_bookkeeping_leaves_no_cond_in_the_loop():
    x, target = jnp.arange(8.0), jnp.float32(5.0)
    assert "cond" not in loop_body(search_while, x, target)
    # the counter stays an induction variable (i + 1, no select); the return value is
    # selected (a copy of i would cost a kernel per iteration on a GPU)
    jaxpr = jax.make_jaxpr(xf.autograph.to_graph(search_while))(x, target).jaxpr
    body = next(e for e in jaxpr.eqns if e.primitive.name == "while").params["body_jaxpr"]
    made_by = {v: e.primitive.name for e in body.jaxpr.eqns for v in e.outvars}
    # the loop state in first-write order: `retval_ = i` comes before `do_return = True`
    value, flag, counter = (made_by.get(v) for v in body.jaxpr.outvars)
    assert (flag, value, counter) == ("gt", "select_n", "add")
    assert int(xf.function(search_while)(x, target)) == 6


def test_floating_point_return_value_stays_in_a_cond():
    x = jnp.asarray([1.0, 7.0, 3.0])
    assert "cond" in loop_body(scaled_first_above, x, jnp.float32(5.0))
    assert float(xf.function(scaled_first_above)(x, jnp.float32(5.0))) == 14.0
    assert float(xf.function(scaled_first_above)(x, jnp.float32(9.0))) == -1.0


def test_float_work_after_the_return_is_not_speculated():
    xs = jnp.asarray([1.0, 4.0, -1.0, 9.0])
    fn = xf.autograph.to_graph(weighted_until_negative)
    assert float(jax.jit(fn)(xs)) == 3.0
    # Forward-mode derivative: d/dx sqrt(x) = 1 / (2 sqrt(x)) up to the first negative.
    # (jitted: one program, where eager jacfwd compiled each op of the loop on its own)
    np.testing.assert_allclose(jax.jit(jax.jacfwd(fn))(xs), [0.5, 0.25, 0.0, 0.0])


def test_attribute_state_after_the_return_stays_exact():
    fn = xf.autograph.to_graph(count_steps)

    def run(x, target):
        box = Steps()
        found = fn(box, x, target)
        return found, box.steps

    x = np.float32([1, 2, 8, 3])
    for target in (0.5, 5.0, 10.0):
        box = Steps()
        expected = (count_steps(box, x, target), box.steps)
        got = jax.jit(run)(jnp.asarray(x), jnp.float32(target))
        assert tuple(int(v) for v in got) == expected


def test_names_a_closure_shares_stay_exact():
    x = np.float32([1, 2, 8, 3])
    for target in (0.5, 5.0, 10.0):
        got = xf.function(shared_counter)(jnp.asarray(x), jnp.float32(target))
        assert tuple(int(v) for v in got) == shared_counter(x, target)


def test_effects_in_the_returning_branch_run_once():
    calls = []

    def note(i):
        calls.append(int(i))

    def first_above(x, target):
        i = 0
        while i < x.shape[0]:
            if x[i] > target:
                jax.debug.callback(note, i)
                return i
            i += 1
        return -1

    x = jnp.asarray([1.0, 7.0, 3.0, 9.0])
    assert int(xf.function(first_above)(x, jnp.float32(5.0))) == 1
    jax.effects_barrier()
    assert calls == [1]


def finally_reads_after_return(x):
    k = 0
    try:
        i = 0
        while i < x.shape[0]:
            if x[i] > 0:
                k = 1000
                return -1
            k = k + 1
            i += 1
    finally:
        return k  # noqa: B012 - the finally's return wins, as Python says


def generator_reads_after_return(x, sink):
    k = 0
    sink.append(k for _ in range(1))  # reads k when consumed, after the return
    i = 0
    while i < x.shape[0]:
        if x[i] > 0:
            k = 1000
            return i
        k = k + 1
        i += 1
    return -1


def consume_generator(x):
    sink = []
    found = generator_reads_after_return(x, sink)
    return found, next(sink[0])


def test_finally_and_generators_see_the_values_at_the_return():
    for x in (np.int32([0, 5, 0]), np.int32([0, 0, 0])):
        assert int(xf.function(finally_reads_after_return)(jnp.asarray(x))) == \
            finally_reads_after_return(x)
        got = xf.function(consume_generator)(jnp.asarray(x))
        assert tuple(int(v) for v in got) == consume_generator(x)


def first_long_row(box, rows, target):
    box.seen = rows[0, :2000] * 0
    i = 0
    while i < rows.shape[0]:
        if rows[i, 0] > target:
            return rows[i]  # 3,000 elements, beside the 2,000 of box.seen selected exactly:
        box.seen = rows[i, :2000]  # over the select budget together, so it is taken as is
        i += 1
    return rows[0] * 0


def test_a_return_value_over_the_select_budget_is_taken_as_is_without_a_cond():
    rows = jnp.arange(4 * 3000, dtype=jnp.int32).reshape(4, 3000)  # integer work only
    fn = xf.autograph.to_graph(first_long_row)
    jaxpr = jax.make_jaxpr(lambda r, t: fn(Steps(), r, t))(rows, jnp.int32(6500)).jaxpr
    loop = next(e for e in jaxpr.eqns if e.primitive.name == "while")
    assert "cond" not in primitives(loop.params["body_jaxpr"].jaxpr)
    for target in (6500, 10 ** 9):
        box, python_box = Steps(), Steps()
        # traced and run in this iteration: `box` is this iteration's
        got = jax.jit(lambda r, t: (fn(box, r, t), box.seen))(  # noqa: B023
            rows, jnp.int32(target))
        want = first_long_row(python_box, np.asarray(rows), np.int32(target))
        np.testing.assert_array_equal(got[0], want)
        np.testing.assert_array_equal(got[1], python_box.seen)
