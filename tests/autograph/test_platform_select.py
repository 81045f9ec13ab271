"""A cheap tensor `if` without a return selects on GPU/TPU and branches on XLA:CPU.

Both programs are in the trace (lax.platform_dependent) and JAX lowers the one for the
device. The select side is checked here on the CPU by making the CPU select too
(`BRANCHING_PLATFORMS`): against plain Python on NumPy values, and its gradients against
jax.grad of the hand-written lax.cond. The structural tests read the traced program.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp
from jax import lax

import xlaflow as xf
from tests.autograph.test_loop_exits import search  # ends `return -1` after the loop
from xlaflow.autograph.operators import speculation


@pytest.fixture
def selecting(monkeypatch):
    monkeypatch.setattr(speculation, "BRANCHING_PLATFORMS", ())


def nested_break(x, limit):
    total = 0.0
    for row in x:
        for v in row:
            w = v * 2.0  # before the `if`: the break stays a flag (see loop_exits.py)
            if total > limit:
                break
            total += w
        total = total * 0.5
    return total


def clipped_steps(x, lo, hi):
    y = x
    steps = 0
    for _ in range(3):
        if y.sum() > hi:
            y = y - 1.0
            steps += 1
        elif y.sum() < lo:
            y = y * 2.0
        else:
            y = -y
    return y, steps


def piecewise(x):
    if x > 1.0:
        y = x * 3.0 + 1.0
    else:
        y = jnp.maximum(x, -x) * 2.0
    return y


def logs(x):
    if x > 0:
        y = jnp.log(x)  # not linear: stays a lax.cond on every platform
    else:
        y = x
    return y


def _platform_conds(jaxpr):
    """(platform-dependent conds, lax.conds inside their default branch, inside cpu's)."""
    found = [0, 0, 0]

    def conds(j):
        return sum(1 for e in j.eqns if e.primitive.name == "cond") + sum(
            conds(s.jaxpr if hasattr(s, "jaxpr") else s)
            for e in j.eqns for p in e.params.values()
            for s in (p if isinstance(p, (tuple, list)) else [p])
            if hasattr(s, "eqns") or hasattr(getattr(s, "jaxpr", None), "eqns"))

    def walk(j):
        for e in j.eqns:
            platforms = e.params.get("branches_platforms")
            if platforms:
                found[0] += 1
                for branch, names in zip(e.params["branches"], platforms):
                    found[1 if names is None else 2] += conds(branch.jaxpr)
            for p in e.params.values():
                for s in p if isinstance(p, (tuple, list)) else [p]:
                    sub = s.jaxpr if hasattr(s, "jaxpr") else s
                    if hasattr(sub, "eqns"):
                        walk(sub)
    walk(jaxpr.jaxpr)
    return tuple(found)


GRID = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)


def test_the_break_flag_and_guarded_sum_select_on_gpu_and_branch_on_cpu():
    jaxpr = jax.make_jaxpr(xf.autograph.to_graph(nested_break))(GRID, jnp.float32(1.0))
    platform_ifs, default_conds, cpu_conds = _platform_conds(jaxpr)
    assert platform_ifs >= 2  # the `break` and the `total += v` it guards
    assert default_conds == 0 and cpu_conds == platform_ifs


def test_a_nonlinear_side_stays_a_cond_everywhere():
    jaxpr = jax.make_jaxpr(xf.autograph.to_graph(logs))(jnp.float32(2.0))
    assert _platform_conds(jaxpr)[0] == 0
    assert any(e.primitive.name == "cond" for e in jaxpr.jaxpr.eqns)


# No subnormal numbers: XLA flushes them to zero (a limit of -1e-40 is 0 there, not in
# Python), which would change which `if` is taken, on either platform's program. Nor
# magnitudes a few halvings make subnormal (nested_break halves its total per row: the
# smallest normal float32, 1.18e-38, once halved twice, is 0 in XLA, not in Python).
def _floats(lo, hi):
    return hs.floats(lo, hi, width=32, allow_subnormal=False).filter(
        lambda v: v == 0 or abs(v) >= 1e-30)


_selected = {}


def selected(fn, *args):
    """fn compiled as a GPU would select (no platform branches), run on args. One
    xf.function per fn, used only here: each input shape is traced (under the patch) and
    compiled once, that program then checked on every example of the shape."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(speculation, "BRANCHING_PLATFORMS", ())
        return _selected.setdefault(fn, xf.function(fn))(*args)


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float32, (4, 3), elements=_floats(-4, 4)), _floats(-3, 6))
def test_selected_nested_break_equals_python(x, limit):
    got = selected(nested_break, x, np.float32(limit))
    np.testing.assert_allclose(got, nested_break(x, np.float32(limit)), rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float32, (3,), elements=_floats(-4, 4)), _floats(-6, 0), _floats(0, 6))
def test_selected_elif_chain_equals_python(x, lo, hi):
    y, steps = selected(clipped_steps, x, np.float32(lo), np.float32(hi))
    want_y, want_steps = clipped_steps(x, np.float32(lo), np.float32(hi))
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
    assert int(steps) == want_steps


@pytest.mark.parametrize("x", [-2.5, 0.3, 1.0, 4.0])
def test_selected_gradients_equal_the_hand_written_cond(selecting, x):
    def hand(x):
        return lax.cond(x > 1.0, lambda: x * 3.0 + 1.0, lambda: jnp.maximum(x, -x) * 2.0)

    got = jax.grad(xf.autograph.to_graph(piecewise))(jnp.float32(x))
    np.testing.assert_allclose(got, jax.grad(hand)(jnp.float32(x)), rtol=1e-6)
    np.testing.assert_allclose(xf.function(piecewise)(np.float32(x)), hand(jnp.float32(x)))


def test_selected_variable_assignment_and_a_print_branch(selecting, capfd):
    v = xf.Variable(0.0)

    def assign(x):
        if x > 0:
            v.assign(x * 2.0)
        else:
            v.assign(-x)
        if x > 10:
            print("big", x)  # an effect: this `if` must stay a lax.cond
        return v.read_value()

    f = xf.function(assign)
    assert float(f(np.float32(3.0))) == 6.0 and float(v.numpy()) == 6.0
    assert float(f(np.float32(-4.0))) == 4.0
    jax.effects_barrier()
    assert "big" not in capfd.readouterr().out


def cube_below(x):
    if x > 0.0:
        y = x + 1.0
    else:
        y = (x * x) * x  # x * x overflows for a large x (float16: 300), on the untaken side
    return y


@pytest.mark.parametrize("dtype, x", [(jnp.float16, 300.0), (jnp.float32, 1e20)])
def test_a_product_that_overflows_on_the_untaken_side_keeps_the_gradient_finite(
        selecting, dtype, x):
    # d/dx of (x*x)*x holds the product x*x: an untaken side that overflows there must not
    # reach the gradient (0 * inf is NaN) -- lax.cond's gradient, as tf.cond's, is 1.
    def hand(x):
        return lax.cond(x > 0.0, lambda: x + 1.0, lambda: (x * x) * x)

    got = jax.jit(jax.grad(xf.autograph.to_graph(cube_below)))(dtype(x))
    want = jax.jit(jax.grad(hand))(dtype(x))
    assert float(want) == 1.0
    assert float(got) == 1.0


def scaled_product(x, w):
    if x > 0.0:
        y = x * 2.0
    else:
        y = x * w * 3.0  # a product of the inputs, then a scaling: selected, gradients finite
    return y


@pytest.mark.parametrize("x", [-1.5, 2.0])
def test_a_product_of_inputs_still_selects_with_the_conds_gradient(selecting, x):
    def hand(x, w):
        return lax.cond(x > 0.0, lambda: x * 2.0, lambda: x * w * 3.0)

    args = (jnp.float32(x), jnp.float32(0.7))
    jaxpr = jax.make_jaxpr(xf.autograph.to_graph(scaled_product))(*args)
    assert _platform_conds(jaxpr)[:2] == (1, 0)  # selected, no lax.cond left
    got = jax.jit(jax.grad(xf.autograph.to_graph(scaled_product), argnums=(0, 1)))(*args)
    want = jax.grad(hand, argnums=(0, 1))(*args)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_the_return_after_a_loop_that_may_return_selects_on_gpu():
    # Every path returns there, so the flag is True on both sides: the return value alone
    # is chosen, a select on a GPU (a conditional would read its predicate back to the host).
    jaxpr = jax.make_jaxpr(xf.autograph.to_graph(search))(jnp.arange(8.0), jnp.float32(3.0))
    assert _platform_conds(jaxpr)[:2] == (1, 0)


@settings(max_examples=25, deadline=None)
# lengths: empty (the loop runs zero times), one element, a short and a longer vector
@given(hnp.arrays(np.float32, hs.sampled_from([0, 1, 3, 6]), elements=_floats(-4, 4)),
       _floats(-4, 4))  # (flushed to zero: see above)
def test_selected_return_after_a_loop_equals_python(x, target):
    got = selected(search, x, np.float32(target))
    assert int(got) == search(x, np.float32(target))
