"""`while` and `for` loops on tensors: while_loop, fori_loop, scan; break/continue/else."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def count_down(n):
    steps = 0
    while n > 0:
        n = n - 2
        steps += 1
    return steps, n


def triangle(n):
    total = 0
    for i in range(n):
        total += i
    return total


def stepped(start, stop):
    out = 0
    for i in range(start, stop, 3):
        out = out * 2 + i
    return out


def negative_step(n):
    acc = 0
    for i in range(n, 0, -2):
        acc += i
    return acc


def row_sums(x):
    total = jnp.zeros(x.shape[1:]) if hasattr(x, "at") else np.zeros(x.shape[1:], x.dtype)
    for row in x:
        total = total + row
    return total


def weighted(x):
    acc = 0.0
    for i, row in enumerate(x):
        acc += i * row.sum()
    return acc


def paired(a, b):
    acc = 0.0
    for u, v in zip(a, b):
        acc += u * v
    return acc


def python_list_unrolls(x):
    for scale in [1.0, 2.0, 3.0]:
        x = x * scale
    return x


def nested_break_continue(x):
    total = 0.0
    for i in range(x.shape[0]):
        j = 0
        while j < x.shape[1]:
            v = x[i, j]
            j += 1
            if v < 0:
                continue
            if v > 5:
                break
            total += v
    return total


def while_else(n):
    i = 0
    found = -1
    while i < n:
        if i * i > 10:
            found = i
            break
        i += 1
    else:
        found = -2
    return found


def for_else(x):
    hits = 0
    for v in x:
        if v > 100:
            break
        hits += 1
    else:
        hits = hits * 10
    return hits


def last_index(n):
    for i in range(n):
        last = i * 3
    return last


@pytest.mark.parametrize("n", [-3, 0, 1, 7])
def test_while(agree, n):
    agree(count_down, np.int32(n))


@pytest.mark.parametrize("n", [0, 1, 5])
def test_range_with_tensor_bound(agree, n):
    agree(triangle, np.int32(n))


@pytest.mark.parametrize("start, stop", [(0, 10), (5, 5), (2, 3), (7, 1)])
def test_range_with_step(agree, start, stop):
    agree(stepped, np.int32(start), np.int32(stop))


@pytest.mark.parametrize("n", [0, 1, 6, 7])
def test_range_negative_step(agree, n):
    agree(negative_step, np.int32(n))


def test_for_over_tensor_rows(agree):
    agree(row_sums, np.arange(12, dtype=np.float32).reshape(4, 3))


def test_enumerate_and_zip(agree):
    agree(weighted, np.arange(6, dtype=np.float32).reshape(3, 2))
    agree(paired, np.float32([1, 2, 3]), np.float32([4, 5, 6, 7]))


def test_python_list_loop_unrolls(agree):
    agree(python_list_unrolls, np.float32([1.0, 2.0]))


@pytest.mark.parametrize("x", [[[1.0, -2.0, 3.0], [6.0, 1.0, 1.0], [2.0, 2.0, 9.0]],
                               [[-1.0, -1.0, -1.0], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]]])
def test_nested_loops_with_break_and_continue(agree, x):
    agree(nested_break_continue, np.float32(x))


@pytest.mark.parametrize("n", [2, 10])
def test_while_else(agree, n):
    agree(while_else, np.int32(n))


@pytest.mark.parametrize("x", [[1.0, 2.0], [1.0, 200.0, 3.0], []])
def test_for_else(agree, x):
    agree(for_else, np.float32(x))


def test_variable_created_in_loop_used_after(agree):
    agree(last_index, np.int32(4))
    compiled = xf.function(last_index)
    with pytest.raises(ValueError, match=r"'last' is first assigned inside this loop, which "
                                         r"ran zero times"):
        compiled(jnp.int32(0))


def test_loop_carried_shape_change_names_variable():
    @xf.function
    def grow(n):
        h = jnp.zeros(4)
        i = 0
        while i < n:
            h = jnp.concatenate([h, h[:1]])
            i += 1
        return h

    with pytest.raises(TypeError, match=r"'h' is float32\[4\] before this tensor while loop "
                                        r"but float32\[5\] after one iteration"):
        grow(jnp.int32(3))


def test_loop_carried_dtype_change_names_variable():
    @xf.function
    def f(x):
        acc = jnp.zeros((), jnp.int32)
        for row in x:
            acc = acc + row
        return acc

    with pytest.raises(TypeError, match=r"'acc' is int32\[\] before .* but float32\[\] after"):
        f(jnp.ones(3))


def test_python_number_initial_value_takes_loop_dtype():
    @xf.function
    def f(x):
        total = 0
        for v in x:
            total = total + v
        return total

    out = f(jnp.float32([0.5, 1.5]))
    assert out.dtype == jnp.float32 and float(out) == 2.0


def test_variables_assigned_in_loops():
    v = xf.Variable(jnp.zeros(2), name="acc")
    steps = xf.Variable(0, name="steps")

    @xf.function
    def f(x, n):
        for row in x:
            v.assign_add(row)
        i = 0
        while i < n:
            steps.assign_add(1)
            i += 1
        return v.value

    np.testing.assert_array_equal(f(jnp.ones((3, 2)), jnp.int32(4)), [3.0, 3.0])
    assert int(steps.numpy()) == 4
    np.testing.assert_array_equal(v.numpy(), [3.0, 3.0])


def test_loops_lower_to_lax_primitives():
    def uses(fn, *args):
        return {e.primitive.name for e in xf.function(fn).get_concrete_function(*args).jaxpr.eqns}

    assert "while" in uses(count_down, jnp.int32(3))
    assert "scan" in uses(row_sums, jnp.ones((3, 2)))
    assert "while" in uses(triangle, jnp.int32(3))  # fori_loop with a traced bound
    assert not {"while", "scan"} & uses(python_list_unrolls, jnp.ones(2))


def sum_until_negative(x):
    total = 0.0
    for v in x:
        total += v
        if v < 0:
            break  # the last statement: only the loop's stop test reads the flag
    return total


def sum_positive_prefix(x):
    total = 0.0
    for v in x:
        if v > 0:
            total += v
        else:
            break
    return total


@pytest.mark.parametrize("x", [[1, -2, 3], [1, 2, -3, 4, 5], [1, 2, 3], [-1]])
def test_a_break_at_the_end_of_a_tensor_loop_body_stops_it(agree, x):
    agree(sum_until_negative, np.float32(x))
    agree(sum_positive_prefix, np.float32(x))


def inner_while_that_may_not_run(x, z):
    total = 0.0
    for v in x:
        total += v
        n = 0
        while n < z.shape[0]:  # a Python test: False for an empty z
            total += z[n]
            n += 1
            if total > 5:
                return total
    return total


@pytest.mark.parametrize("z", [[], [1.0, 2.0]])
def test_a_python_tested_while_with_a_return_inside_a_tensor_loop(agree, z):
    agree(inner_while_that_may_not_run, np.float32([1, 2]), np.float32(z))
