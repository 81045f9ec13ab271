"""A Python `range` loop that a tensor may stop early becomes one lax loop, not one lax.cond
per iteration; a trailing `return e` after a loop that may return is a select.

Oracle: the same function run as plain Python on NumPy values (the `agree` fixture), and
the jaxpr's size, which must not grow with the range's length.
"""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

import xlaflow as xf


def first_above(x, target):
    for i in range(x.shape[0]):
        if x[i] > target:
            return i * 10
    return -1


def sum_until_break(x, limit):
    total = 0.0
    for i in range(x.shape[0]):
        if total > limit:
            break
        total += x[i]
    return total, i


def skip_negatives_until_break(x):
    count = 0
    for i in range(1, x.shape[0], 2):
        if x[i] < 0:
            continue
        if x[i] > 40:
            break
        count += 1
    return count


LABELS = ["a", "b", "c", "d", "e"]


def python_list_by_counter(x):
    # The counter indexes a Python list: a traced counter cannot, so these iterations
    # stay unrolled (each under a lax.cond), as before.
    out = 0.0
    for i in range(len(LABELS)):
        if x[i] > 0:
            break
        out += len(LABELS[i]) * x[i]
    return out


_compiled = {}


def check(fn, *args):
    expect = fn(*[a if a.ndim else a[()] for a in map(np.asarray, args)])
    # one xf.function per Python function: each drawn length is traced and compiled once,
    # and that program is checked on every example of that length
    got = _compiled.setdefault(fn, xf.function(fn))(*map(jnp.asarray, args))
    for g, e in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expect)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-5, atol=1e-5)


def eqn_count(fn, *args):
    return len(jax.make_jaxpr(xf.autograph.to_graph(fn))(*args).jaxpr.eqns)


# A few lengths (each one compile per function; xf.function warns past 5 traces): one
# element (skip_negatives_until_break's range(1, n, 2) runs zero times), two (one
# iteration), an odd length and a long one.
vectors = hnp.arrays(np.float32, hs.sampled_from([1, 2, 7, 40]), elements=hs.floats(
    -50, 50, width=32, allow_nan=False, allow_subnormal=False))


@settings(max_examples=25, deadline=None)
@given(vectors, hs.floats(-60, 60, width=32, allow_subnormal=False).map(np.float32))
def test_early_exits_agree_with_python(x, target):
    check(first_above, x, target)
    check(sum_until_break, x, target)
    check(skip_negatives_until_break, x)


def test_program_size_does_not_grow_with_the_range():
    sizes = [eqn_count(first_above, jnp.arange(float(n)), jnp.float32(3.0))
             for n in (8, 64, 512)]
    assert sizes[0] == sizes[1] == sizes[2]
    jaxpr = jax.make_jaxpr(xf.autograph.to_graph(first_above))(
        jnp.arange(512.0), jnp.float32(3.0)).jaxpr
    names = [e.primitive.name for e in jaxpr.eqns]
    assert names.count("while") == 1 and "cond" not in names


def test_counter_needed_as_python_int_stays_unrolled(agree):
    for values in ([-1.0, -2.0, 3.0, -4.0, 5.0], [-1.0, -2.0, -3.0, -4.0, -5.0]):
        agree(python_list_by_counter, np.float32(values))
    names = [e.primitive.name for e in jax.make_jaxpr(xf.autograph.to_graph(
        python_list_by_counter))(jnp.zeros(5)).jaxpr.eqns]
    assert "while" not in names and names.count("cond") >= len(LABELS) - 1


def test_trailing_return_after_a_returning_loop_is_a_select():
    def search(x, target):
        i = 0
        while i < x.shape[0]:
            v = x[i]  # keeps the return a flag (loop_exits.py would hoist a leading `if`)
            if v > target:
                return i
            i += 1
        return -1

    jaxpr = jax.make_jaxpr(xf.autograph.to_graph(search))(jnp.arange(8.0),
                                                          jnp.float32(3.0)).jaxpr
    assert [e.primitive.name for e in jaxpr.eqns][-2:] == ["not", "select_n"]
    f = xf.function(search)
    assert int(f(jnp.arange(8.0), jnp.float32(3.0))) == 4
    assert int(f(jnp.arange(8.0), jnp.float32(30.0))) == -1


def test_trailing_return_reads_values_the_loop_changed(agree):
    def best_below(x, limit):
        best = -1.0
        steps = 0
        for v in x:
            if v > limit:
                return best, steps
            best = jnp.maximum(best, v)
            steps += 1
        return best * 2.0, steps

    agree(best_below, np.float32([1, 5, 3, 9, 2]), np.float32(6))
    agree(best_below, np.float32([1, 5, 3, 9, 2]), np.float32(60))
    agree(best_below, np.float32([70, 5]), np.float32(6))


def test_trailing_return_of_a_name_unset_on_the_returning_path(agree):
    def fn(x):
        for v in x:
            if v > 0:
                return v
            y = v * 2  # noqa: F841 - set only on the path that does not return
        return -x[0]

    agree(fn, np.float32([-1, -2, 3]))
    agree(fn, np.float32([-1, -2, -3]))
