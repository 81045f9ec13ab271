"""`if`/`elif`/`else` and conditional expressions on tensors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def sign_label(x):
    if x > 0:
        y = 1.0
    elif x < 0:
        y = -1.0
    else:
        y = 0.0
    return y * 10


def one_sided_update(x, y):
    if x.sum() > 0:
        y = y + x
    return y


def nested(x):
    if x[0] > 0:
        if x[1] > 0:
            r = x * 2
        else:
            r = x * 3
    else:
        r = -x
    return r


def temporaries_stay_local(x):
    if x > 0:
        t = x * 2  # a temporary: not read after the `if`, so not a cond output
        y = t + 1
    else:
        u = jnp.ones((7,))  # a different shape, fine since `u` is dead after
        y = u.sum() * x
    return y


def expression(x):
    return x * 2 if x > 1 else x - 1


@pytest.mark.parametrize("x", [-2.0, 0.0, 3.0])
def test_if_elif_else(agree, x):
    agree(sign_label, np.float32(x))


@pytest.mark.parametrize("x", [[1.0, 2.0], [-3.0, 1.0]])
def test_one_sided_if_keeps_prior_value(agree, x):
    agree(one_sided_update, np.float32(x), np.float32([10.0, 20.0]))


@pytest.mark.parametrize("x", [[1.0, 1.0], [1.0, -1.0], [-1.0, 5.0]])
def test_nested_ifs(agree, x):
    agree(nested, np.float32(x))


@pytest.mark.parametrize("x", [-1.0, 2.0])
def test_temporaries_are_not_outputs(agree, x):
    agree(temporaries_stay_local, np.float32(x))


@pytest.mark.parametrize("x", [0.5, 3.0])
def test_conditional_expression(agree, x):
    agree(expression, np.float32(x))


def test_tensor_if_lowers_to_cond_and_python_if_does_not():
    @xf.function
    def f(x, w, flag):
        if flag:  # a Python value: decided at trace time
            x = x + 1
        if x.sum() > 0:  # a tensor, and an expensive branch: lax.cond
            x = x @ w
        return x

    w = jnp.eye(2) * 2
    eqns = [e.primitive.name for e in f.get_concrete_function(jnp.ones(2), w, True).jaxpr.eqns]
    assert eqns.count("cond") == 1
    np.testing.assert_array_equal(f(jnp.ones(2), w, True), [4.0, 4.0])
    np.testing.assert_array_equal(f(jnp.ones(2), w, False), [2.0, 2.0])
    np.testing.assert_array_equal(f(-jnp.ones(2), w, False), [-1.0, -1.0])


def test_only_the_taken_branch_prints(capsys):
    @xf.function
    def f(x):
        if x > 0:
            xf.print("positive")
        return x

    f(jnp.float32(-1.0))
    f(jnp.float32(1.0))
    jax.effects_barrier()
    assert capsys.readouterr().err == "positive\n"  # only the taken branch ran


def test_python_number_branches_promote():
    @xf.function
    def f(x):
        if x > 0:
            y = 1
        else:
            y = 2.5
        return y

    assert float(f(jnp.float32(1.0))) == 1.0 and float(f(jnp.float32(-1.0))) == 2.5


def test_attribute_and_subscript_targets():
    class State:
        count = jnp.float32(0.0)

    state = State()

    @xf.function
    def f(x):
        d = {"k": x}
        if x > 0:
            state.count = state.count + x
            d["k"] = x * 10
        return state.count, d["k"]

    count, k = f(jnp.float32(2.0))
    assert float(count) == 2.0 and float(k) == 20.0
    # Eagerly (to_graph without jit) the attribute is really assigned, as in Python.
    state.count = jnp.float32(0.0)
    xf.autograph.to_graph(f)(jnp.float32(3.0))
    assert float(state.count) == 3.0


def test_variables_assigned_in_branches():
    v = xf.Variable(0.0, name="v")
    w = xf.Variable(0.0, name="w")

    @xf.function
    def f(x):
        if x > 0:
            v.assign_add(x)
        else:
            w.assign_sub(x)
        return v + w

    f(jnp.float32(2.0))
    f(jnp.float32(-3.0))
    assert float(v.numpy()) == 2.0 and float(w.numpy()) == 3.0
    assert f.tracing_count == 1


def test_variable_defined_in_one_branch_names_variable_and_line():
    @xf.function
    def f(x):
        if x > 0:
            only_here = x * 2
        return only_here  # the error under test

    with pytest.raises(NameError, match=r"test_conditionals.py:\d+: 'only_here' has no value "
                                        r"on one path"):
        f(jnp.float32(1.0))


def test_branch_shape_mismatch_names_variable():
    @xf.function
    def f(x):
        if x.sum() > 0:
            z = jnp.ones(3)
        else:
            z = jnp.ones(4)
        return z

    with pytest.raises(TypeError, match=r"'z' is float32\[3\] in the true branch .* but "
                                        r"float32\[4\] in the false branch"):
        f(jnp.ones(2))


def test_non_scalar_condition_is_a_clear_error():
    @xf.function
    def f(x):
        if x > 0:
            x = -x
        return x

    with pytest.raises(ValueError, match=r"shape \(3,\); a tensor condition must be a scalar"):
        f(jnp.ones(3))


def test_python_value_leaving_tensor_if_is_an_error():
    @xf.function
    def f(x):
        if x > 0:
            mode = "pos"
        else:
            mode = "neg"
        return mode

    with pytest.raises(TypeError, match=r"'mode' holds a str .* depends on a tensor"):
        f(jnp.float32(1.0))


COUNTER = 0


def test_global_rebinding_in_tensor_if_is_an_error():
    @xf.function
    def f(x):
        global COUNTER
        if x > 0:
            COUNTER = COUNTER + 1
        return x

    with pytest.raises(SyntaxError, match="global 'COUNTER' is rebound .* xf.Variable"):
        f(jnp.float32(1.0))


def test_conditional_expression_promotes_python_numbers():
    @xf.function
    def f(x):
        return 1 if x > 0 else 2.5

    assert float(f(jnp.float32(1.0))) == 1.0 and float(f(jnp.float32(-1.0))) == 2.5


def test_missing_return_value_on_one_path_of_a_loop_body():
    @xf.function
    def f(x):
        for i in range(3):
            if x[i] > 0:
                return i, x[i]
        return -1, x[0]

    i, v = f(jnp.float32([-1.0, 2.0, 3.0]))
    assert int(i) == 1 and float(v) == 2.0


def read_through_closures(x, xs):
    k = 0
    scaled = lambda: k * 10  # reads k when called, after the branch
    if x > 0:
        k = 5
    else:
        k = 7
    j = 0

    def last():
        return j

    for v in xs:
        j = v * 3
    return scaled(), last()


@pytest.mark.parametrize("x", [1, -1])
def test_names_read_only_through_a_closure_leave_the_branch_and_the_loop(agree, x):
    agree(read_through_closures, np.int32(x), np.int32([1, 2]))
