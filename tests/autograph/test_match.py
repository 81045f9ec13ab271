"""`match` statements: value patterns on a tensor subject become tensor conditionals and agree
with Python; a match that cannot (sequence/class patterns) refuses a tensor clearly."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xlaflow as xf


def by_value(x, k):
    match k:
        case 0:
            r = x
        case 1 | 2:
            r = x * 2
        case -1:
            r = x - 10
        case _:
            r = -x
    return r


def returns_per_case(x, k):
    match k + 1:
        case 1:
            return x
        case 2 as two:
            return x * two
        case other if other > 4:
            return x - other
        case _:
            return x + 100


def in_a_loop(x, k):
    r = 0.0
    for i in range(3):
        match k:
            case 0 if x > i:
                r += x
            case 0:
                r -= 1
            case _:
                continue
        r += 1
    return r


def in_a_tensor_loop(xs):
    total = 0.0
    for v in xs:
        match v:
            case 0.0:
                break
            case 1.0:
                continue
            case None:
                total = total - 1000
        total += v
    return total


def none_subject(x):
    match x:
        case None:
            return 0.0
    return x


COMPILED = {fn: xf.function(fn) for fn in (by_value, returns_per_case, in_a_loop)}


@settings(max_examples=25, deadline=None)
@given(k=st.integers(-3, 6), x=st.sampled_from([1.5, -2.0, 0.0]))
def test_value_patterns_on_a_tensor_subject(k, x):
    for fn, compiled in COMPILED.items():
        expect = fn(np.float32(x), np.int32(k))  # plain Python on NumPy values
        got = compiled(jnp.float32(x), jnp.int32(k))
        np.testing.assert_allclose(np.asarray(got), np.asarray(expect), rtol=1e-6)


@pytest.mark.parametrize("xs", [[2.0, 1.0, 3.0], [2.0, 0.0, 5.0], [1.0, 1.0, 1.0]])
def test_match_on_a_tensor_loop_element(agree, xs):
    agree(in_a_tensor_loop, np.asarray(xs, np.float32))


def test_singleton_pattern_on_a_tensor(agree):
    agree(none_subject, np.float32(3.0))


def test_one_trace_serves_every_case():
    # the tensor match is one program: a new subject value does not retrace
    fn = xf.function(by_value)
    got = [float(fn(jnp.float32(3.0), jnp.int32(k))) for k in (0, 1, 2, -1, 7)]
    assert got == [3.0, 6.0, 6.0, -7.0, -3.0]
    assert fn.experimental_get_tracing_count() == 1


def structural(x, spec):
    match spec:
        case ("scale", factor):
            return x * factor
        case {"shift": amount}:
            return x + amount
        case [first, *rest]:
            return x - first - len(rest)
        case str() as name if name == "neg":
            return -x
        case _:
            return x


@pytest.mark.parametrize("spec, expect", [(("scale", 3.0), 6.0), ({"shift": 1.0}, 3.0),
                                          ([1.0, 2, 3], -1.0), ("neg", -2.0), (7, 2.0)])
def test_structural_patterns_on_python_values_stay_python(spec, expect):
    fn = xf.function(lambda x: structural(x, spec))
    assert float(fn(jnp.float32(2.0))) == expect


def mixed(x, k):
    match k:
        case [a, b]:
            return a + b
        case 0:
            return x
    return -x


def tensor_guard(x, spec):
    match spec:
        case (_, n) if x > n:
            return x
    return -x


def test_value_pattern_in_a_structural_match_refuses_a_tensor():
    with pytest.raises(NotImplementedError, match=r"test_match\.py:\d+: this `match` compares "
                                                  r"a tensor subject"):
        xf.function(mixed)(jnp.float32(1.0), jnp.int32(0))


def test_tensor_guard_in_a_structural_match_is_refused():
    with pytest.raises(NotImplementedError, match=r"the guard of this `match` case tests a "
                                                  r"tensor"):
        xf.function(lambda x: tensor_guard(x, ("a", 1.0)))(jnp.float32(2.0))
