"""Adversarial review of the moved `for` break (converters/loop_exits.py, _for_candidate):
cases where the converted function could differ from plain Python.

Oracle: the original function run by Python on NumPy values (helpers shared with the
return review); for gradients, the derivative known by hand; for dtypes, JAX's promotion
of the values joined. Cases that take the moved path assert it (`loop_stop` in the code).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from tests.autograph.test_for_return_review import check, moved

f32, i32 = np.float32, np.int32
vectors = [f32([1.0, 5.0, 2.0]), f32([]), f32([9.0]), f32([2.0, 1.0])]
thresholds = [f32(-10.0), f32(1.5), f32(4.0), f32(100.0)]
matrices = [f32([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), f32([[9.0, 1.0]]),
            f32([[2.0, 1.0], [0.0, 7.0]])]
row_thresholds = [f32(-10.0), f32(0.5), f32(1.5), f32(2.5), f32(100.0)]


# -- differences found: a jump in a nested loop's `else:` belongs to the enclosing loop


def break_in_inner_else(m, t):
    s = 0.0
    for r in m:
        if r[0] > t:
            s = s + 1000.0
            break
        for v in r:
            s = s + v
            if s > 100.0:
                break
        else:
            break  # the outer loop's second break: the inner loop ran to its end
    else:
        s = -s  # Python skips it whenever either break ended the loop
    return s


def return_and_break_in_inner_else(m, t):
    s = 0.0
    for r in m:
        if r[0] > t:
            return s + 1000.0
        for v in r:
            s = s + v
            if s > 100.0:
                break
        else:
            break
    else:
        s = -s
    return s


def while_break_in_inner_else(m, t):
    s = 0.0
    i = 0
    while i < m.shape[0]:
        if m[i, 0] > t:
            s = s + 1000.0  # runs only when this test ended the loop
            break
        for v in m[i]:
            s = s + v
            if s > 100.0:
                break
        else:
            break
        i += 1
    return s


def continue_in_inner_else_before(m, t):
    s = 0.0
    for r in m:
        if r[0] > t:
            for v in r:
                s = s + v
                if s > 100.0:
                    break
            else:
                continue  # the outer loop's: moved after it, a SyntaxError
            break
        s = s + 1.0
    return s


def break_in_inner_else_before(m, t):
    s = 0.0
    for r in m:
        if r[0] > t:
            for v in r:
                s = s + v
                if s > 100.0:
                    break
            else:
                break
            s = s + 1000.0
            break
        s = s + 1.0
    return s


@pytest.mark.parametrize("fn", [break_in_inner_else, return_and_break_in_inner_else,
                                while_break_in_inner_else, continue_in_inner_else_before,
                                break_in_inner_else_before], ids=lambda f: f.__name__)
def test_a_jump_in_an_inner_loops_else_is_the_outer_loops(fn):
    for m in matrices:
        for t in row_thresholds:
            check(fn, m, t)


# -- what the review probed that agrees with Python (kept so a later change cannot break it)


def else_breaks_enclosing(x, t):
    s = 0.0
    for k in range(3):  # Python loop around the moved one
        for v in x:
            if v > t + k:
                break
            s = s + v
        else:
            break
        s = s + 100.0
    return s


def else_continues_enclosing(x, t):
    s = 0.0
    for k in range(3):
        for v in x:
            if v > t + k:
                break
            s = s + v
        else:
            continue
        s = s + 100.0
    return s


def else_returns(x, t):
    s = 0.0
    for v in x:
        if v > t:
            break
        s = s + v
    else:
        return s * 2.0
    return s


def target_after(x, t):
    v = 42.0  # an empty input leaves it; else the element stopped on, or the last
    for v in x:
        if v > t:
            break
    else:
        v = v * 100.0
    return v


def before_reads_state(x, t):
    acc, got = 0.0, -1.0
    for v in x:
        if v + acc > t:
            got = acc + v  # the state the earlier iterations left, not the stopping one's
            acc = acc * 10.0
            break
        acc = acc + v * v
    return got, acc


def before_writes_the_test(x, t):
    lim = t
    for v in x:
        if v > lim:
            lim = v
            break
        lim = lim + 0.5
    return lim


def target_rebound_in_rest(x, t):
    for v in x:
        if v > t:
            break
        v = v * 2.0  # Python's after-loop value is this one
    else:
        v = v + 0.5
    return v


def nested_loop_before(x, t):
    s = 0.0
    for v in x:
        if v > t:
            for u in x:  # its break is its own
                if u > v:
                    break
                s = s + u
            break
        s = s + 1000.0
    return s


def zip_three(x, t):
    c = 0.0
    for a, b, e in zip(x, x[1:], x[:1] + 1.0):  # the shortest ends it
        if a + b + e > t:
            c = a * b
            break
        c = c + e
    else:
        c = -c
    return c


@pytest.mark.parametrize("fn", [else_breaks_enclosing, else_continues_enclosing, else_returns,
                                target_after, before_reads_state, before_writes_the_test,
                                target_rebound_in_rest, nested_loop_before, zip_three],
                         ids=lambda f: f.__name__)
def test_vector_loops_agree_with_python(fn):
    assert moved(fn)
    for x in vectors:
        for t in thresholds:
            check(fn, x, t)


def enumerate_from(x, s, t):
    k = s * 0 - 1
    for i, v in enumerate(x, s):
        if v > t:
            k = i
            break
    return k


def test_enumerate_with_a_traced_start_agrees_with_python():
    assert moved(enumerate_from)
    for x in vectors:
        for t in thresholds:
            for s in (0, 3, -2):
                check(enumerate_from, x, i32(s), t)


def stepped(a, b, s, t):
    c = 0
    for i in range(a, b, s):
        if i * i > t:
            c = i + 1000
            break
        c = c + i
    else:
        c = -c
    return c


@pytest.mark.parametrize("a,b,s", [(0, 5, 1), (5, -3, -2), (10, 0, -3), (3, 3, 1),
                                   (3, -3, 1), (-2, -20, -5)])
def test_tensor_ranges_with_starts_and_negative_steps_agree_with_python(a, b, s):
    assert moved(stepped)
    for t in (-1, 5, 30, 1000):
        check(stepped, i32(a), i32(b), i32(s), i32(t))


def inner_moved_outer_lax(m, t):
    s = 0.0
    for r in m:
        for v in r:
            if v > r[0] + t:  # reads the outer target too
                s = s + v
                break
        else:
            s = s - 1000.0
        s = s + v
    return s


def row_stopped_on(m, t):
    out = m[0] * 0.0
    for r in m:
        if r[1] > t:
            out = r
            break
    else:
        out = out - 1.0
    return out, r


@pytest.mark.parametrize("fn", [inner_moved_outer_lax, row_stopped_on],
                         ids=lambda f: f.__name__)
def test_rows_and_nested_loops_agree_with_python(fn):
    assert moved(fn)
    for m in matrices:
        for t in row_thresholds:
            check(fn, m, t)


def test_a_variable_assigned_before_the_break_is_assigned_once():
    # Python: +1 for each element before the one stopped on, + that element; none else
    var = xf.Variable(0.0)

    def count(x, t):
        for v in x:
            if v > t:
                var.assign_add(v)
                break
            var.assign_add(1.0)
        return 0.0

    assert moved(count)
    compiled = xf.function(count)
    for x, t, expect in [([1.0, 5.0, 2.0], 3.0, 6.0), ([1.0, 5.0, 2.0], 9.0, 3.0),
                         ([9.0], 0.0, 9.0), ([], 0.0, 0.0)]:
        var.assign(0.0)
        compiled(jnp.asarray(x, jnp.float32), jnp.float32(t))
        np.testing.assert_allclose(var.numpy(), expect)


def found_or_zero(x, t):
    found = 0  # a Python int before the loop, the element's float32 before the break
    for v in x:
        if v > t:
            found = v
            break
    return found


def test_the_dtype_joins_as_a_tensor_if_joins_it():
    for t in (f32(-10.0), f32(100.0)):
        got = xf.function(found_or_zero)(jnp.float32([1.0, 5.0]), jnp.asarray(t))
        assert got.dtype == jnp.result_type(0, jnp.float32)
        np.testing.assert_allclose(got, found_or_zero(f32([1.0, 5.0]), t))


def squared_stop(x, t):
    r = 0.0
    for v in x:
        if v > t:
            r = v * v
            break
        r = r + v
    return r


@pytest.mark.parametrize("t,expect", [(0.5, [2.0, 0.0, 0.0]), (3.0, [0.0, 10.0, 0.0])])
def test_the_gradient_is_that_of_the_element_it_stopped_on(t, expect):
    # r = x[k]^2 at the stopping index k (the earlier sum is overwritten): 2 x[k] there
    grad = jax.grad(xf.autograph.to_graph(squared_stop))(jnp.float32([1.0, 5.0, 2.0]),
                                                         jnp.float32(t))
    np.testing.assert_allclose(np.asarray(grad), expect)


def test_vmap_over_inputs_and_thresholds_agrees_with_python():
    rows = f32([[1.0, 5.0, 2.0], [0.0, 0.0, 0.0], [9.0, 1.0, 1.0]])
    graph = xf.autograph.to_graph(target_after)
    got = jax.vmap(graph, (0, None))(jnp.asarray(rows), jnp.float32(3.0))
    np.testing.assert_allclose(np.asarray(got), [target_after(r, f32(3.0)) for r in rows])
    ts = f32([0.0, 3.0, 9.0])
    got = jax.vmap(graph, (None, 0))(jnp.asarray(rows[0]), jnp.asarray(ts))
    np.testing.assert_allclose(np.asarray(got), [target_after(rows[0], t) for t in ts])
