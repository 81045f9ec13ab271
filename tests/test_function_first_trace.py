"""A Variable created on an xf.function's first call: which trace runs, and how often, as TF.

TF's tf.function (polymorphic_function.Function._call) traces the function once with
Variable creation allowed, lifts the new Variables' initializers out and runs them, then
traces it again with creation forbidden and runs that second program; the creation block's
Python code runs once, the rest of the body twice (tensorflow/tensorflow#48851).
"""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import _init_lifting

X = jnp.asarray([1.0, 2.0])


class Lazy(xf.Module):
    """Creates `v` from `initial(self, x)` on its first call; counts its Python runs."""

    def __init__(self, initial):
        super().__init__()
        self.initial = initial
        self.w = xf.Variable([1.0, 2.0])
        self.v = None
        self.block_runs = self.body_runs = 0

    @xf.function
    def __call__(self, x):
        self.body_runs += 1
        if self.v is None:
            self.block_runs += 1
            self.v = xf.Variable(self.initial(self, x))
        return self.v + x


@pytest.mark.parametrize("initial, value", [
    (lambda self, x: 3.0, [3.0, 3.0]),
    (lambda self, x: xf.zeros([2]) + 5.0, [5.0, 5.0]),
    (lambda self, x: xf.zeros_like(x), [0.0, 0.0]),  # static shape: a constant, as in TF
    (lambda self, x: self.w * 2.0, [2.0, 4.0]),  # another Variable's current value
], ids=["python", "op", "zeros_like_arg", "other_variable"])
def test_the_creation_block_runs_once_and_the_body_twice(initial, value):
    m = Lazy(initial)
    np.testing.assert_array_equal(m(X), np.add(value, [1.0, 2.0]))
    np.testing.assert_array_equal(m.v.numpy(), value)
    assert (m.block_runs, m.body_runs) == (1, 2)
    np.testing.assert_array_equal(m(X), np.add(value, [1.0, 2.0]))
    assert (m.block_runs, m.body_runs) == (1, 2)  # the second call traces nothing


def test_an_assignment_in_the_creation_block_is_not_in_the_program_that_runs():
    # TF runs the second trace, where `self.v is None` is False: the block's assign and its
    # early return are not in it (TF gives 1.0 and v = 0 too); assign outside the block.
    class M(xf.Module):
        def __init__(self):
            super().__init__()
            self.v = None

        @xf.function
        def __call__(self, x):
            if self.v is None:
                self.v = xf.Variable(xf.zeros_like(x))
                self.v.assign(x * 2)
                return self.v * 100.0
            return self.v + 1

    m = M()
    np.testing.assert_array_equal(m(X), [1.0, 1.0])
    np.testing.assert_array_equal(m(X), [1.0, 1.0])
    np.testing.assert_array_equal(m.v.numpy(), [0.0, 0.0])


def test_the_guides_pattern_assigns_outside_the_block_on_every_call():
    class Count(xf.Module):
        def __init__(self):
            super().__init__()
            self.count = None

        @xf.function
        def __call__(self, x):
            if self.count is None:
                self.count = xf.Variable(xf.zeros_like(x))
            return self.count.assign_add(x)

    c = Count()
    assert [c(X).tolist() for _ in range(3)] == [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]


def test_a_variable_created_inside_a_tape_block_is_made_once_and_differentiated():
    class M(xf.Module):
        def __init__(self):
            super().__init__()
            self.v = None
            self.block_runs = 0

        @xf.function
        def __call__(self, x):
            with xf.GradientTape() as tape:
                if self.v is None:
                    self.block_runs += 1
                    self.v = xf.Variable(xf.ones_like(x) * 3.0)
                y = xf.reduce_sum(self.v * self.v * x)
            return tape.gradient(y, self.v)

    m = M()
    np.testing.assert_array_equal(m(X), 2 * 3.0 * np.asarray(X))  # d/dv sum(v^2 x) = 2vx
    assert m.block_runs == 1


def test_an_initial_value_from_an_argument_is_refused_before_any_assignment_persists():
    class M(xf.Module):
        def __init__(self):
            super().__init__()
            self.w = xf.Variable([1.0, 2.0])
            self.v = None

        @xf.function
        def __call__(self, x):
            self.w.assign_add(x)
            if self.v is None:
                self.v = xf.Variable(self.w * 2.0)  # w now holds w + x: from the argument
            return self.v

    m = M()
    with pytest.raises(ValueError, match="'__call__': xf.Variable's initial value depends "
                       "on the values of the function's arguments"):
        m(X)
    np.testing.assert_array_equal(m.w.numpy(), [1.0, 2.0])


def test_where_the_value_cannot_be_lifted_a_compile_time_rerun_still_initialises(monkeypatch):
    # A JAX whose tracing internals differ: the first trace is rerun with compile-time
    # evaluation instead, which gives the same Variables (the block then runs twice).
    monkeypatch.setattr(_init_lifting, "lift", lambda *args: _init_lifting.CANNOT)
    m = Lazy(lambda self, x: self.w * 2.0 + xf.ones_like(x))
    np.testing.assert_array_equal(m(X), [4.0, 7.0])
    np.testing.assert_array_equal(m.v.numpy(), [3.0, 5.0])
    assert m.block_runs == 2
