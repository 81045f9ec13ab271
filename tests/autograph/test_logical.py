"""`and`/`or`/`not`: Python value semantics, lazy while operands are Python values."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def both_positive(a, b):
    return a > 0 and b > 0


def either(a, b):
    return a > 0 or b > 0


def value_or(a, b):
    return a or b


def value_and(a, b):
    return a and b


def negate(a):
    return not a > 1


def condition_with_logic(a, b):
    if a > 0 and not b > 0:
        return a - b
    return a + b


@pytest.mark.parametrize("a, b", [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)])
def test_boolean_combinations(agree, a, b):
    agree(both_positive, np.float32(a), np.float32(b))
    agree(either, np.float32(a), np.float32(b))
    agree(condition_with_logic, np.float32(a), np.float32(b))


@pytest.mark.parametrize("a, b", [(0.0, 5.0), (3.0, 5.0)])
def test_or_and_return_an_operand_not_a_bool(agree, a, b):
    got = agree(value_or, np.float32(a), np.float32(b))
    assert got.dtype == jnp.float32
    agree(value_and, np.float32(a), np.float32(b))


@pytest.mark.parametrize("a", [0.0, 2.0])
def test_not(agree, a):
    agree(negate, np.float32(a))


def test_python_left_operand_short_circuits():
    calls = []

    def expensive():
        calls.append(1)
        return jnp.float32(1.0) > 0

    @xf.function
    def f(x, use):
        return use and expensive()

    assert f(jnp.ones(1), False) is not None
    assert calls == []
    f(jnp.ones(1), True)
    assert calls == [1]


def walrus_operands(x):
    b = 0
    flag = True and (b := 7)
    y = (z := 2) if flag else (z := 3)
    return x + b + y + z


def walrus_on_tensor(x):
    # the case: `:=` in an operand a tensor decides (z is never read)
    return (z := x * 2) if x > 0 else (z := x * 3)  # noqa: F841


def test_walrus_in_lazy_operands_binds_in_the_function(agree):
    agree(walrus_operands, np.float32(1.0))


def test_walrus_in_a_tensor_decided_operand_is_refused_with_what_to_write():
    with pytest.raises(NotImplementedError, match=r"test_logical.py:\d+: .*`:=`.*assign the "
                                                  r"name in a statement before"):
        xf.function(walrus_on_tensor)(jnp.float32(1.0))


def in_band(x, lo):
    if lo < x < 2:  # a chained comparison on a tensor
        return 1.0
    return 0.0


@pytest.mark.parametrize("x", [-1.0, 1.0, 3.0])
def test_chained_comparison_on_tensors(agree, x):
    agree(in_band, np.float32(x), 0)
