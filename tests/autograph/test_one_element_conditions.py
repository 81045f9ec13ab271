"""A tensor condition of one element (shape (1, 1): `argmax(logits) == end`) decides an `if`
or a `while` as its one value, as TF's cond_v2 and while_v2 squeeze the predicate."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def clipped(x, limit):
    if x == limit:  # shape (1, 1)
        x = x * 0
    return x


def halvings(x):
    steps = 0
    while x > 1:  # shape (1,)
        x = x // 2
        steps += 1
    return steps


def first_hit(ids, end):
    hit = -1
    for i in xf.range(ids.shape[0]):
        if ids[i][None] == end:  # shape (1,)
            hit = i
            break
    return hit


@pytest.mark.parametrize("value", [3, 5])
def test_if_on_a_one_by_one_condition(value):
    got = xf.function(clipped)(jnp.full((1, 1), value), jnp.full((1, 1), 5))
    np.testing.assert_array_equal(got, [[0 if value == 5 else value]])


def test_while_and_break_on_one_element_conditions():
    assert int(xf.function(halvings)(jnp.array([40]))) == 5  # 40 20 10 5 2 1
    ids = jnp.array([4, 7, 2, 2, 9])
    assert int(xf.function(first_hit)(ids, jnp.array([2]))) == 2
    assert int(xf.function(first_hit)(ids, jnp.array([8]))) == -1


def test_a_condition_of_more_elements_is_still_refused():
    with pytest.raises(ValueError, match=r"shape \(1, 2\); a tensor condition must be a "
                                         r"scalar"):
        xf.function(clipped)(jnp.ones((1, 2)), jnp.ones((1, 2)))
