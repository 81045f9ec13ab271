"""Helper functions called inside tensor blocks that rebind their caller's names."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def accumulate_in_if(x):
    total = 1.0

    def add(v):
        nonlocal total
        total = total + v

    if x > 0:
        add(x)
    else:
        add(-2 * x)
    return total


def accumulate_in_loops(xs, n):
    total = 0.0
    count = 0

    def add(v):
        nonlocal total
        total = total + v
        bump()

    def bump():  # reached only through add: add rebinds count too
        nonlocal count
        count = count + 1

    for v in xs:
        add(v * v)
    i = 0
    while i < n:
        add(1.0)
        i += 1
    return total, count


def sibling_scope_loop(xs):
    seen = 0.0

    def note(v):
        nonlocal seen
        seen = seen + v

    def run():  # its loop calls a helper of the enclosing function
        for v in xs:
            if v > 0:
                note(v)

    run()
    return seen


def call_twice(fn, v):
    fn(v)
    fn(v)


def helper_passed_as_argument(x):
    total = 0.0

    def add(v):
        nonlocal total
        total = total + v

    if x > 1:
        call_twice(add, x)
    return total


@pytest.mark.parametrize("x", [3.0, -1.5])
def test_helper_rebinding_a_nonlocal_in_a_tensor_if(agree, x):
    agree(accumulate_in_if, np.float32(x))


@pytest.mark.parametrize("n", [0, 4])
def test_helpers_rebinding_nonlocals_in_tensor_loops(agree, n):
    agree(accumulate_in_loops, np.float32([1.0, -2.0, 3.0]), np.int32(n))


def test_loop_in_a_nested_function_calls_a_helper_of_its_parent(agree):
    agree(sibling_scope_loop, np.float32([1.0, -2.0, 3.0]))


@pytest.mark.parametrize("x", [2.0, 0.5])
def test_helper_passed_to_another_function_inside_a_tensor_if(agree, x):
    agree(helper_passed_as_argument, np.float32(x))


def test_a_helper_that_shadows_the_name_is_not_carried(agree):
    def f(x):
        total = 5.0

        def add(v):
            nonlocal total
            total = total + v

        def inner(y):
            def add(v):  # a different helper: rebinds nothing of inner's
                return v
            if y > 0:
                add(y)
            return y

        inner(x)
        add(1.0)
        return total

    assert float(agree(f, np.float32(2.0))) == 6.0


LAST = None


def remember(v):
    global LAST
    LAST = v
    return v


@pytest.mark.parametrize("block", ["if", "loop", "expression"])
def test_helper_rebinding_a_global_inside_a_tensor_block_is_an_error(block):
    global LAST
    LAST = None

    @xf.function
    def f(x):
        if block == "if":
            if x > 0:
                remember(x)
        elif block == "loop":
            for v in x[None]:
                remember(v)
        else:
            x = remember(x) if x > 0 else x
        return x

    with pytest.raises(SyntaxError, match=r"global 'LAST' is rebound to a tensor by "
                                          r"remember\(\), called inside an? .*xf.Variable") \
            as info:
        f(jnp.float32(1.0))
    assert "test_helpers.py" in str(info.value)
    assert LAST is None  # refused before anything leaked


def test_helper_rebinding_a_global_outside_tensor_blocks_runs_as_python():
    @xf.function
    def f(x, flag):
        if flag:  # a Python condition: the helper runs once, at trace time
            remember("traced")
        return x + 1

    assert float(f(jnp.float32(1.0), True)) == 2.0
    assert LAST == "traced"


def late_read_through_a_rebinding_helper(x):
    total = 0.0

    def double():
        nonlocal total
        total = total * 2
        return total

    if x > 0:
        total = x
    return double()


def late_read_next_to_a_comprehension_that_shadows(x):
    total = 0.0

    def show():
        y = total + 1
        _ = [total for total in range(2)]  # its own `total`
        return y

    if x > 0:
        total = x
    return show()


@pytest.mark.parametrize("fn", [late_read_through_a_rebinding_helper,
                                late_read_next_to_a_comprehension_that_shadows])
@pytest.mark.parametrize("x", [3.0, -1.0])
def test_names_a_nested_function_reads_leave_the_branch(agree, fn, x):
    agree(fn, np.float32(x))


DEBUG = False
TRACES = 0


def set_debug(flag):
    global DEBUG
    if flag:
        DEBUG = True


def count_trace():
    global TRACES
    TRACES += 1


def test_helpers_rebinding_globals_to_python_values_in_tensor_blocks_run_as_python():
    global TRACES
    TRACES = 0

    @xf.function
    def f(x):
        for v in x:
            set_debug(False)  # rebinds nothing on this call
            count_trace()  # a Python counter: once, while the body is traced
        return x

    f(jnp.float32([1.0, 2.0]))
    assert DEBUG is False and TRACES == 1


def aliased_helper(x):
    total = 0.0

    def add(v):
        nonlocal total
        total = total + v

    f = add
    if x > 0:
        f(x)
    return total


def helper_mentioned_before_its_name_is_bound(x):
    def add(v):
        nonlocal total
        total = total + v

    cb = None
    if x > 0:
        cb = add  # noqa: F841 - mentioned in a tensor block before `total` exists
    total = 1.0
    add(2.0)
    return total


@pytest.mark.parametrize("fn", [aliased_helper, helper_mentioned_before_its_name_is_bound])
@pytest.mark.parametrize("x", [3.0, -1.0])
def test_aliased_helpers_and_helpers_mentioned_early(agree, fn, x):
    agree(fn, np.float32(x))


def test_a_helper_rebinding_a_name_the_caller_shadows_says_what_to_do():
    def outer(x):
        total = 0.0

        def add(v):
            nonlocal total
            total = total + v

        def inner(y):
            total = 100.0
            if y > 0:
                add(y)
            return total

        return inner(x), total

    with pytest.raises(NotImplementedError, match=r"a use of add\(\), which rebinds the "
                                                  r"enclosing function's 'total' .*another name"):
        xf.function(outer)(jnp.float32(3.0))


class Box:
    def __init__(self, v):
        self.v = v


def box_it(v):
    global LAST
    LAST = Box(v)


def add_to_last(v):
    global LAST
    LAST += v


@pytest.mark.parametrize("helper", [box_it, add_to_last])
def test_a_tensor_stored_in_a_global_by_any_write_is_refused_before_it_is_stored(helper):
    global LAST
    LAST = 0

    @xf.function
    def f(x):
        if x > 0:
            helper(x)
        return x

    with pytest.raises(SyntaxError, match="global 'LAST' is rebound to a tensor"):
        f(jnp.float32(1.0))
    assert LAST == 0


def default_and_first_iterable_read_outside(x):
    y = x
    v = jnp.ones(2) * x
    if x > 0:
        y = x + 1
        v = v * 2
    return (lambda y=y: y * 2)() + sum([w for w in v])


@pytest.mark.parametrize("x", [1.0, -1.0])
def test_defaults_and_a_comprehensions_first_iterable_are_read_by_the_caller(agree, x):
    agree(default_and_first_iterable_read_outside, np.float32(x))


def alias_of_an_inherited_helper(x):
    total = 0.0

    def add(v):
        nonlocal total
        total = total + v

    def outer():
        f = add
        if x > 0:
            f(x)

    outer()
    return total


@pytest.mark.parametrize("x", [3.0, -1.0])
def test_an_alias_of_an_enclosing_functions_helper_is_carried(agree, x):
    agree(alias_of_an_inherited_helper, np.float32(x))


class Model:
    def __init__(self):
        self.w = xf.Variable(2.0)


def keep_model(model, v):
    global LAST
    LAST = model
    return v * model.w


def test_an_object_holding_a_variable_may_be_stored_in_a_global_from_a_tensor_branch():
    model = Model()

    @xf.function
    def f(x):
        if x > 0:
            x = keep_model(model, x)
        return x

    assert float(f(jnp.float32(1.0))) == 2.0 and LAST is model


def test_an_alias_of_a_helper_whose_name_is_shadowed_says_what_to_do():
    def g(x, t):
        total = x * 0

        def add(v):
            nonlocal total
            total = total + v

        def inner(t):
            total = 100.0
            f = add
            for _ in range(t):
                f(1.0)
            return total

        inner(t)
        return total

    with pytest.raises(NotImplementedError, match=r"a use of f\(\), which rebinds"):
        xf.function(g)(jnp.float32(1.0), jnp.int32(3))
