"""`match`, `try`/`with` around returns, and `:=` where it binds outside its expression."""

import contextlib

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def return_in_a_case(x):
    match 0:
        case 0:
            if True:
                return x + 1
    return x


def return_in_a_case_in_a_loop(x):
    for i in range(3):
        match i:
            case 1:
                return x * 10
    return x


def tensor_return_in_every_path_of_a_case(x):
    match 1:
        case 1:
            if x > 0:
                return 1
            return 2


def break_in_a_case_in_a_tensor_loop(x):
    s = 0.0
    for v in x:
        match 1:
            case 1:
                if v > 2:
                    break
        s = s + v
    return s


def names_captured_by_patterns(x):
    a, rest, tail = 0, 0, 0
    for p in [(1, 2), (3, 4, 5)]:
        match p:
            case (a, b):
                tail = b
            case (a, *rest):
                pass
    match {"k": 1, "j": 2}:
        case {"k": 1, **others}:
            tail = tail + len(others)
    return a + x, len(rest), tail


@pytest.mark.parametrize("fn, x", [
    (return_in_a_case, np.float32(5)),
    (return_in_a_case_in_a_loop, np.float32(5)),
    (tensor_return_in_every_path_of_a_case, np.float32(5)),
    (tensor_return_in_every_path_of_a_case, np.float32(-5)),
    (break_in_a_case_in_a_tensor_loop, np.float32([1, 2, 3, 4])),
    (names_captured_by_patterns, np.float32(0.5)),
])
def test_match_statements(agree, fn, x):
    agree(fn, x)


def return_in_try_finally(x):
    try:
        if x > 0:
            return 1
        return 2
    finally:
        pass


def return_in_with(x):
    with contextlib.nullcontext():
        if x > 0:
            return 1
        return 2


def return_in_every_handler(x):
    try:
        if x > 0:
            return 1
        return 2
    except ValueError:
        return 3


@pytest.mark.parametrize("fn", [return_in_try_finally, return_in_with, return_in_every_handler])
@pytest.mark.parametrize("x", [1.0, -1.0])
def test_tensor_returns_inside_try_or_with_on_every_path(agree, fn, x):
    agree(fn, np.float32(x))


def walrus_in_comprehensions(x):
    last = 0
    for v in x:
        _ = [(last := v * k) for k in range(2)]
    total = 0
    for v in [1, 2, 3]:
        _ = {k: (total := total + v * k) for k in range(2)}
    return last + x[0], total


def test_walrus_in_a_comprehension_binds_in_the_function(agree):
    agree(walrus_in_comprehensions, np.float32([1, 2, 3]))


def walrus_in_a_python_while_test(x):
    n = 0
    while (y := 5 - n) > 2:
        n += 1
    return n, y + x


def test_walrus_in_a_python_while_test(agree):
    agree(walrus_in_a_python_while_test, np.float32(1))


def test_walrus_in_a_tensor_while_test_says_what_to_write():
    @xf.function
    def f(x):
        n = 0
        y = 0
        while (y := x - n) > 2:
            n += 1
        return n, y

    with pytest.raises(NotImplementedError, match=r"`:=` in the loop condition at line \d+ "
                                                  r"is inside a while loop .*while y > 2"):
        f(jnp.int32(5))


def try_finally_in_a_tensor_loop(x):
    s = 0.0
    count = 0
    for v in x:
        try:
            if v > 1:
                s = s + v
        finally:
            count += 1
    return s, count


def test_try_finally_without_except_in_a_tensor_loop(agree):
    agree(try_finally_in_a_tensor_loop, np.float32([1, 2, 3]))


def return_in_with_then_assignment(x):
    with contextlib.nullcontext():
        if x > 0:
            return x * 2
        y = -x
    return y + 1


def return_in_case_then_assignment(x):
    match "a":
        case "a":
            if x > 0:
                return x
            y = -x
        case _:
            y = x
    return y + 1


def return_in_nested_if_then_assignment(x):
    if x > -10:
        if x > 0:
            return x * 2
        y = x - 1
    else:
        y = x + 1
    return y


@pytest.mark.parametrize("fn", [return_in_with_then_assignment, return_in_case_then_assignment,
                                return_in_nested_if_then_assignment])
@pytest.mark.parametrize("x", [2.0, -2.0, -20.0])
def test_names_a_returning_branch_leaves_unset_are_read_only_on_other_paths(agree, fn, x):
    agree(fn, np.float32(x))


def test_a_name_unset_on_a_path_that_does_not_return_is_still_an_error():
    @xf.function
    def f(x):
        if x > 0:
            y = 1.0
        return y

    with pytest.raises(NameError, match="'y' has no value on one path"):
        f(jnp.float32(1.0))


def handled_inside_a_with(x):
    with contextlib.nullcontext():
        try:
            int("not a number")
        except ValueError as error:
            x = x + len(str(error)) * 0 + 1
        y = x * 2
    return y


def test_an_except_name_inside_a_with_block_is_not_its_state(agree):
    # Python deletes `error` when the handler ends: the block's state must not read it
    agree(handled_inside_a_with, np.float32(3.0))
    v = xf.Variable(2.0)

    @xf.function
    def step(x):
        with xf.GradientTape() as tape:
            try:
                raise ValueError("no")
            except ValueError as e:
                note = str(e)
            y = v * x * len(note)  # "no": 2
        return tape.gradient(y, v)

    assert float(step(xf.constant(3.0))) == 6.0
