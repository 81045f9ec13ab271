"""`while` and `for` loops on tensors: while_loop, fori_loop, scan; break/continue/else."""

import jax
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


def test_list_append_in_tensor_loop_stacks():
    @xf.function
    def f(x):
        outs = [jnp.zeros(2)]
        for row in x:
            outs.append(row * 2)
            outs.append(row + 1)
        return jnp.stack(outs)

    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    expect = np.stack([np.zeros(2)] + [v for r in x for v in (r * 2, r + 1)])
    np.testing.assert_allclose(f(jnp.asarray(x)), expect)


def appends_through_aliases(x):
    a = []
    b = a
    for v in x:
        b.append(v * 2)
    holder = {"vals": [x[0]]}
    vals = holder["vals"]
    for v in x:
        vals.append(v)
    return len(a), a[-1], len(holder["vals"]), holder["vals"][-1], a is b


def test_a_list_appended_to_in_a_tensor_loop_is_the_same_object_after_it(agree):
    agree(appends_through_aliases, np.float32([1.0, 2.0, 3.0]))


def test_accumulated_list_stays_a_list_after_the_loop():
    @xf.function
    def f(x):
        outs = []
        for row in x:
            outs.append(row * 2)
        first = jnp.array(outs)  # the untouched list: the loop's stacked array
        outs.append(x[0])  # changed: stacking it again must see the new item
        outs[0] = outs[0] + 100
        return first, jnp.stack(outs), len(outs)

    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    first, again, n = f(jnp.asarray(x))
    np.testing.assert_allclose(first, x * 2)
    expect = np.concatenate([x * 2, x[:1]])
    expect[0] += 100
    np.testing.assert_allclose(again, expect)
    assert n == 4


def test_list_append_in_while_loop_is_a_clear_error():
    @xf.function
    def f(n):
        outs = []
        i = 0
        while i < n:
            outs.append(i)
            i += 1
        return outs

    with pytest.raises(TypeError, match=r"appending to list 'outs' in a loop whose number of "
                                        r"iterations depends on a tensor .* buf.at\[i\].set"):
        f(jnp.int32(3))


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


def append_on_both_branches(x):
    out = []
    for i in range(3):  # Python loop: each tensor `if` appends one item on either side
        if x[i] > 0:
            out.append(x[i])
        else:
            out.append(-x[i] * 10)
    rows = []
    for v in x:  # a scan: the branch's item is the iteration's item
        if v > 0:
            rows.append(v)
        else:
            rows.append(v * 2)
    return jnp.stack(out), len(rows), jnp.stack(rows)


def test_append_inside_tensor_branches(agree):
    agree(append_on_both_branches, np.float32([1, -5, 2]))


def test_append_on_one_branch_of_a_scan_body_says_what_to_write():
    @xf.function
    def f(x):
        rows = []
        for v in x:
            if v > 0:
                rows.append(v)
        return jnp.stack(rows)

    with pytest.raises(TypeError, match="'rows'"):
        f(jnp.float32([1, -5, 2]))


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


def appended_list_returned(x):
    out = []
    for v in x:
        out.append(v * 2)
    return out, {"items": out}


def test_a_list_a_tensor_loop_appended_to_can_be_returned(agree):
    agree(appended_list_returned, np.float32([1, 2, 3]))


def constant_key_updates(x):
    last = [0.0, 0.0]
    grid = {(0, 1): 0.0}
    for v in x:
        if v > 0:
            last[-1] += v
            grid[0, 1] += v * 2
    return last[-1], grid[0, 1]


def test_constant_negative_and_tuple_keys_are_loop_state(agree):
    agree(constant_key_updates, np.float32([1, -2, 3]))


def list_state(x):
    pair = [x[0], [x[1], x[2]]]
    while pair[0] < 20.0:  # a list rebuilt each iteration is state like a tuple
        a, (b, c) = pair
        pair = [a + b, [b + 1.0, c]]
    acc = [x[0], x[1]]
    for e in x:
        acc = [acc[0] + e, acc[1] * 2.0]
    return pair[0], pair[1][0], acc


def test_lists_rebuilt_in_tensor_loops_are_state(agree):
    agree(list_state, np.float32([1, 2, 3]))


def range_sum_and_count(a, b, c):
    s, n = 0, 0
    for i in range(a, b, c):
        s = s + i // 7
        n += 1
    return s, n


def range_with_break(a, b, c):
    n = 0
    for _ in range(a, b, c):
        if n > 100:
            break
        n += 1
    return n


@pytest.mark.parametrize("a, b, c", [
    (-2 ** 31 + 5, 2 ** 31 - 1, 2 ** 30),  # the distance does not fit in int32
    (2 ** 31 - 2500, 2 ** 31 - 1, 1000),  # i + step would overflow past the bound
    (2 ** 31 - 1, -2 ** 31, -2 ** 31),
    (10, -3, -4), (0, 10, 3), (5, 5, 1)])
def test_tensor_ranges_near_the_limits_of_int32(agree, a, b, c):
    args = np.int32(a), np.int32(b)
    expect = range_sum_and_count(a, b, c)
    got = xf.function(range_sum_and_count)(*map(jnp.asarray, args), c)
    assert tuple(map(int, got)) == expect
    agree(range_with_break, *args, np.int32(c))


def test_tensor_range_bounds_of_other_integer_dtypes():
    @xf.function
    def f(a, b):
        s = 0
        for i in range(a, b):
            s += i
        for i in range(b):
            s += i
        return s

    assert int(f(jnp.int16(2), jnp.uint8(7))) == sum(range(2, 7)) + sum(range(7))
    with pytest.raises(TypeError, match="range.. takes integers; received a tensor of dtype "
                                        "float32"):
        f(jnp.float32(1), jnp.float32(3))


def nested_loops_append_to_one_list(x):
    out = [x[0, 0] * 0]
    for row in x:
        out.append(row[0] * 10)
        for v in row:
            out.append(v)
            if v > 2:
                out.append(v * 100)
            else:
                out.append(-v)
    return jnp.stack(out) if isinstance(x, jax.Array) else np.stack(out)


def test_nested_tensor_loops_append_to_one_list(agree):
    agree(nested_loops_append_to_one_list, np.arange(6, dtype=np.float32).reshape(2, 3))


def break_in_the_widest_ranges(lo, hi):
    n = 0
    for _ in range(lo, hi):
        if n >= 3:
            break
        n += 1
    k = 0
    for k, _ in enumerate(reversed(range(lo, hi, 2))):
        if k >= 2:
            break
    return n, k


def test_ranges_of_more_than_2_to_the_31_values_run_and_break(agree):
    agree(break_in_the_widest_ranges, np.int32(-2 ** 31), np.int32(2 ** 31 - 1))


def unsigned_ranges(a):
    last, total = 0, 0
    for i in range(a, a + 3):
        last = i
    for i in range(a - 2, a - 9, -3):
        total = total + i % 7
    return last, total


def test_unsigned_bounds_beyond_int32_keep_their_values_in_64_bit_mode():
    with jax.enable_x64(True):
        got = xf.function(unsigned_ranges)(jnp.uint32(3_000_000_000))
    assert tuple(map(int, got)) == unsigned_ranges(3_000_000_000)


def counts_down_from_the_end(x, n):
    out = 0.0
    below = 0
    for i in range(n):
        out = out + x[-i - 1]
        if i - 1 < 0:
            below += 1
    return out, below


def test_the_counter_of_an_unsigned_range_is_a_signed_int(agree):
    agree(counts_down_from_the_end, np.arange(5, dtype=np.float32), np.uint32(5))


def enumerate_reversed_and_zip_of_ranges(lo, hi):
    out = 0
    for k, i in enumerate(reversed(range(lo, hi, 2))):
        out = out * 3 + i + k
    for i, j in zip(range(lo, hi), range(hi, lo, -1)):
        out = out + i * j
    return out


def test_enumerate_reversed_and_zip_of_tensor_ranges(agree):
    agree(enumerate_reversed_and_zip_of_ranges, np.int32(-3), np.int32(6))
