"""Converted control flow lowers to the same program as hand-written lax, and Python-only
control flow adds nothing."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.extend.core import Var

import xlaflow as xf


def count_eqns(jaxpr):
    """Live equations in a jaxpr, including those of nested jaxprs (loop and branch bodies).

    Equations whose results nothing uses are not counted: XLA removes them, and deciding
    whether a condition is a tensor leaves one such comparison behind. A choice by platform
    (lax.platform_dependent) counts as the branch lowered for this machine's, as JAX lowers
    only that one.
    """
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    needed = {v for v in jaxpr.outvars if isinstance(v, Var)}
    total = 0
    for eqn in reversed(jaxpr.eqns):
        if not (eqn.effects or any(v in needed for v in eqn.outvars)):
            continue
        needed |= {v for v in eqn.invars if isinstance(v, Var)}
        if eqn.primitive.name == "platform_index":
            continue
        if eqn.params.get("branches_platforms"):
            total += count_eqns(_lowered_branch(eqn.params))
            continue
        total += 1
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else [param]:
                if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    total += count_eqns(sub)
    return total


def _lowered_branch(params):
    platform = jax.devices()[0].platform
    for branch, platforms in zip(params["branches"], params["branches_platforms"]):
        if platforms is None or platform in platforms:
            return branch
    raise AssertionError(f"no branch for {platform}: {params['branches_platforms']}")


def converted(fn, *args):
    return count_eqns(xf.function(fn).get_concrete_function(*args).jaxpr)


def hand(fn, *args):
    return count_eqns(jax.make_jaxpr(fn)(*args))


X = jnp.arange(12.0).reshape(4, 3)
N = jnp.int32(4)


def ag_range(x, n):
    acc = jnp.zeros(3)
    for i in range(n):
        acc = acc + x[i] * 2
    return acc


def lax_range(x, n):
    return lax.fori_loop(0, n, lambda i, acc: acc + x[i] * 2, jnp.zeros(3))


def ag_scan(x):
    acc = jnp.zeros(3)
    for row in x:
        acc = jnp.maximum(acc, row)
    return acc


def lax_scan(x):
    return lax.scan(lambda acc, row: (jnp.maximum(acc, row), None), jnp.zeros(3), x)[0]


def ag_while(x, n):
    i = 0
    acc = x[0]
    while i < n:
        acc = acc * 2 + 1
        i = i + 1
    return acc


def lax_while(x, n):
    def body(carry):
        i, acc = carry
        return i + 1, acc * 2 + 1
    return lax.while_loop(lambda c: c[0] < n, body, (0, x[0]))[1]


def ag_cond(x):
    if x.sum() > 0:
        y = x * 2
    else:
        y = -x
    return y


def lax_cond(x):
    return lax.cond(x.sum() > 0, lambda: x * 2, lambda: -x)


def ag_python_only(x, flag):
    for scale in (1.0, 2.0, 3.0):
        if flag:
            x = x * scale
    while x.shape[0] > 5:  # shapes are static: Python control flow
        x = x[1:]
    return x


def straight_line(x, flag):
    return x * 1.0 * 2.0 * 3.0


def test_range_loop_matches_fori_loop():
    assert converted(ag_range, X, N) == hand(lax_range, X, N)


def test_tensor_iteration_matches_scan():
    assert converted(ag_scan, X) == hand(lax_scan, X)


def test_while_matches_while_loop():
    assert converted(ag_while, X, N) == hand(lax_while, X, N)


def test_if_matches_cond():
    assert converted(ag_cond, X) == hand(lax_cond, X)


def test_python_control_flow_adds_no_equations():
    assert converted(ag_python_only, X, True) == hand(lambda x: straight_line(x, True), X)


def test_results_agree_with_hand_written():
    np.testing.assert_allclose(xf.function(ag_range)(X, N), lax_range(X, N))
    np.testing.assert_allclose(xf.function(ag_scan)(X), lax_scan(X))
    np.testing.assert_allclose(xf.function(ag_while)(X, N), lax_while(X, N))
    np.testing.assert_allclose(xf.function(ag_cond)(X), lax_cond(X))


def ag_accumulate(x):
    acc = jnp.zeros(3)
    outs = []
    for row in x:
        acc = acc + row
        outs.append(acc)
    return jnp.stack(outs)


def lax_accumulate(x):
    def step(acc, row):
        acc = acc + row
        return acc, acc
    return lax.scan(step, jnp.zeros(3), x)[1]


def test_stacking_an_accumulated_list_is_the_scan_output():
    # Not one slice per iteration re-stacked: the list's stacked array itself.
    assert converted(ag_accumulate, X) == hand(lax_accumulate, X)
    np.testing.assert_allclose(xf.function(ag_accumulate)(X), lax_accumulate(X))


def _compiled_instructions(lowered):
    """The opcodes of every instruction in XLA's optimized program, as a sorted list."""
    text = lowered.compile().as_text()
    return sorted(re.findall(r"= \S+ ([\w-]+)\(", text))


@pytest.mark.parametrize("converted_fn, hand_fn, args", [
    (ag_range, lax_range, (X, N)),
    (ag_scan, lax_scan, (X,)),
    (ag_while, lax_while, (X, N)),
    (ag_cond, lax_cond, (X,)),
    (ag_accumulate, lax_accumulate, (X,)),
    (lambda x: ag_python_only(x, True), lambda x: straight_line(x, True), (X,)),
], ids=["range", "scan", "while", "cond", "accumulate", "python_only"])
def test_xla_compiles_the_same_instructions(converted_fn, hand_fn, args):
    # The jaxpr counts above skip dead equations (a leftover comparison, unused slices of a
    # stacked list); this checks that what XLA compiles is the hand-written program's.
    if converted_fn is ag_cond and jax.devices()[0].platform != "cpu":
        pytest.skip("off CPU, an `if` with cheap branches is a select (test_platform_select)")
    ours = _compiled_instructions(xf.function(converted_fn).lower(*args))
    theirs = _compiled_instructions(jax.jit(hand_fn).lower(*args))
    assert ours and ours == theirs
