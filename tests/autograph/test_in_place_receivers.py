"""In-place changes of a Python container reached through an attribute or subscript
(`self.items.append(v)`, `bag["k"].pop()`) inside a tensor loop or `if`: traced once, they
would happen once, so they are refused as bare names are (converters/in_place.py); objects
that are not built-in containers, and Python-decided blocks, run as written.
"""

import collections

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


class Recorder:
    def __init__(self):
        self.items = []
        self.by_key = {"seen": collections.deque()}

    def record_each(self, x):
        for v in x:
            self.items.append(v)
        return x

    def record_keyed(self, x):
        for v in x:
            self.by_key["seen"].appendleft(v)
        return x


def through_a_parameter(bag, x):
    if x > 0:
        bag.items.extend([x])
    return x


def rows_by_index(rows, x):
    for i in range(len(rows)):
        if x[i] > 0:
            rows[i].append(x[i])
    return x


class Stats:
    """Not a container: its `update` is its own (and changes nothing)."""

    def __init__(self):
        self.scale = 2.0

    def update(self, v):
        return v * self.scale


def stats_update(stats, x):
    s = 0.0
    for v in x:
        s = s + stats.update(v)  # a user object's method: traced like any call
    return s


def sorted_copy(holder, x):
    out = x
    for _ in range(x.shape[0]):
        if x[0] > 0:
            out = holder.x.sort() + out  # a jax array's sort() returns a copy
    return out


@pytest.mark.parametrize(("call", "text"), [
    (lambda r, x: r.record_each(x), r"`self\.items\.append\(\.\.\.\)` at line \d+ \(changes "
                                    r"'self\.items' in place\) is inside a for loop"),
    (lambda r, x: r.record_keyed(x), r"`self\.by_key\['seen'\]\.appendleft\(\.\.\.\)` at line "
                                     r"\d+ .* is inside a for loop"),
    (lambda r, x: through_a_parameter(r, x[0]), r"`bag\.items\.extend\(\.\.\.\)` at line \d+ "
                                                r".* is inside an `if`"),
])
def test_a_container_reached_through_an_attribute_or_key_is_refused_in_a_tensor_block(
        call, text):
    recorder = Recorder()
    with pytest.raises(NotImplementedError, match=text):
        xf.function(call)(recorder, jnp.arange(1.0, 4.0))
    # refused before the body ran: no tracer leaked into the containers
    assert recorder.items == [] and not recorder.by_key["seen"]


def test_an_indexed_row_under_a_tensor_if_in_a_python_loop_is_refused():
    rows = [[], []]
    with pytest.raises(NotImplementedError, match=r"`rows\[i\]\.append\(\.\.\.\)` at line \d+"):
        xf.function(rows_by_index)(rows, jnp.asarray([1.0, -1.0]))
    assert rows == [[], []]


def test_python_decided_blocks_and_non_containers_run_as_written():
    # the oracle: the same functions run by Python on NumPy values
    recorder, expect = Recorder(), Recorder()
    xf.function(lambda r, x: r.record_each(x))(recorder, [1.0, 2.0])
    expect.record_each([1.0, 2.0])
    assert recorder.items == expect.items
    bag, expect_bag = Recorder(), Recorder()
    xf.function(through_a_parameter)(bag, 2.0)
    through_a_parameter(expect_bag, 2.0)
    assert bag.items == expect_bag.items == [2.0]
    x = np.float32([1.0, 2.0, 3.0])
    got = xf.function(stats_update)(Stats(), jnp.asarray(x))
    assert float(got) == float(stats_update(Stats(), x)) == 12.0
    holder = Recorder()
    holder.x = jnp.asarray([3.0, 1.0, 2.0])
    got = xf.function(sorted_copy)(holder, jnp.asarray([3.0, 1.0, 2.0]))
    np.testing.assert_allclose(got, np.asarray([3.0, 1.0, 2.0]) + 3 * np.sort([3.0, 1.0, 2.0]))


def test_a_keras_metric_updated_in_a_tensor_loop_is_not_taken_for_a_container():
    mean = xf.keras.metrics.Mean()

    def feed(x):
        for v in x:
            mean.update_state(v)
        return mean.result()

    x = np.float32([1.0, 2.0, 6.0])
    assert float(xf.function(feed)(jnp.asarray(x))) == pytest.approx(float(np.mean(x)))
