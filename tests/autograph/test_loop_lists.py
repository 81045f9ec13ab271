"""Lists in tensor loops: appends stack into the loop's state, aliases stay one list,
lists rebuilt each iteration and constant keys are state, and unsupported appends are named."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


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
