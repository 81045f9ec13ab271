"""`return` anywhere: in branches, in loops, several returns."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def early_exit(x):
    if x > 10:
        return x * 2
    if x < 0:
        return -x
    return x + 1


def search(x, target):
    for i in range(x.shape[0]):
        if x[i] == target:
            return i
    return -1


def search_while(x, target):
    i = 0
    while i < x.shape[0]:
        if x[i] == target:
            return i * 10
        i += 1
    return -1


def nested_loop_return(x):
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if x[i, j] < 0:
                return i * 100 + j
    return -1


def tensor_range_return(n):
    total = 0
    for i in range(n):
        total += i
        if total > 10:
            return total
    return -total


@pytest.mark.parametrize("x", [-5.0, 3.0, 20.0])
def test_several_returns(agree, x):
    agree(early_exit, np.float32(x))


@pytest.mark.parametrize("target", [3.0, 9.0])
def test_return_inside_python_range_loop(agree, target):
    agree(search, np.float32([1, 2, 3, 4]), np.float32(target))


@pytest.mark.parametrize("target", [3.0, 9.0])
def test_return_inside_tensor_while(agree, target):
    agree(search_while, np.float32([1, 2, 3, 4]), np.float32(target))


@pytest.mark.parametrize("x", [[[1.0, 2.0], [3.0, -4.0]], [[1.0, 1.0], [1.0, 1.0]]])
def test_return_inside_nested_loops(agree, x):
    agree(nested_loop_return, np.float32(x))


@pytest.mark.parametrize("n", [0, 3, 8])
def test_return_inside_tensor_range(agree, n):
    agree(tensor_range_return, np.int32(n))


def test_missing_return_on_a_tensor_path_is_an_error():
    @xf.function
    def f(x):
        if x > 0:
            return x

    with pytest.raises(TypeError, match="returns a value on some tensor-dependent paths but "
                                        "reaches its end"):
        f(jnp.float32(1.0))


def test_returns_of_different_shapes_name_the_line():
    @xf.function
    def f(x):
        if x.sum() > 0:
            return jnp.ones(2)
        return jnp.ones(3)

    with pytest.raises(TypeError, match=r"test_returns.py:\d+: .*float32\[2\].*float32\[3\]"):
        f(jnp.ones(2))


def first_positive_forever(x):
    i = 0
    while True:  # leaves only by return
        if x[i] > 0:
            return i
        i += 1
        if i >= x.shape[0]:
            return -1


@pytest.mark.parametrize("x", [[0, 5, 0], [0, 0, 0]])
def test_while_true_left_only_by_returns(agree, x):
    agree(first_positive_forever, np.float32(x))


def _accumulate_until(total, x, t):
    for e in x:
        if e > t:
            return  # bare: returns None, as falling off the end does
        total.assign_add(e)


def _accumulate_while(total, x, t):
    i = 0
    while i < x.shape[0]:
        if x[i] > t:
            return None  # noqa: RET501 - the explicit return None is the case
        total.assign_add(x[i])
        i += 1


@pytest.mark.parametrize("fn", [_accumulate_until, _accumulate_while])
@pytest.mark.parametrize("t", [-1.0, 2.5, 9.0])
def test_bare_returns_in_tensor_loops_return_none_as_python(fn, t):
    x = np.float32([0, 1, 2, 3, 4])
    plain, compiled = xf.Variable(0.0), xf.Variable(0.0)
    want = fn(plain, x, np.float32(t))  # Python on NumPy values
    got = xf.function(fn)(compiled, jnp.asarray(x), jnp.float32(t))
    assert got is None and want is None
    assert float(compiled.numpy()) == float(plain.numpy())


def test_a_bare_return_beside_a_value_return_is_still_refused():
    def mixed(x, t):
        for e in x:
            if e > t:
                return
        return x.sum()

    with pytest.raises(TypeError, match="float32.*on one path.*PyTreeDef\\(None\\)"):
        xf.function(mixed)(jnp.arange(5.0), jnp.float32(2.5))
