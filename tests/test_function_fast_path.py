"""xf.function's call fast path on a program without Variables: a later trace of the same
arity (new shapes, inside JAX's own cache) can add run-time checks or reach Variables."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow._signatures import DYNAMIC


def test_a_later_trace_that_adds_an_assert_raises_on_the_fast_path():
    @xf.function
    def f(x):
        if x.shape[0] > 2:  # a Python condition: only the 3-element trace has the check
            assert jnp.all(x > 0), "x must be positive"
        return x + 1

    np.testing.assert_allclose(f(-jnp.ones(2)), 0.0)
    np.testing.assert_allclose(f(-jnp.ones(2)), 0.0)
    entry = f._fast_entries[1]
    assert entry.direct is not None and not entry.check_tokens  # the direct fast path
    # Same arity, new shape: JAX traces again inside the fast path's call; the check that
    # trace adds must fail this call, and every later one with a bad value.
    with pytest.raises(AssertionError, match="x must be positive"):
        f(-jnp.ones(3))
    with pytest.raises(AssertionError, match="x must be positive"):
        f(-jnp.ones(3))
    np.testing.assert_allclose(f(jnp.ones(3)), 2.0)
    np.testing.assert_allclose(f(-jnp.ones(2)), 0.0)  # the unchecked shape stays unchecked


def test_a_later_trace_that_reaches_a_new_variable_lifts_it():
    box = []  # empty at the first trace: no guess can foresee the Variable

    @xf.function
    def f(x):
        if x.shape[0] > 2:
            box[0].assign_add(jnp.sum(x))
            return x + box[0].value
        return x + 1

    np.testing.assert_allclose(f(jnp.ones(2)), 2.0)
    np.testing.assert_allclose(f(jnp.ones(2)), 2.0)
    assert f._fast_entries[1].direct is not None  # the direct fast path
    box.append(xf.Variable(10.0, name="late"))
    np.testing.assert_allclose(f(jnp.ones(3)), 14.0)  # 10 + 3, then x + 13
    np.testing.assert_allclose(f(jnp.ones(3)), 17.0)
    assert float(box[0].numpy()) == 16.0  # both assignments persisted
    assert f.tracing_count == 2  # the second call found the program that lifts it
    np.testing.assert_allclose(f(jnp.ones(2)), 2.0)
    assert float(box[0].numpy()) == 16.0
    assert f.tracing_count == 3  # 2 elements again, in the program that lifts it


class _Scale(xf.Module):
    def __init__(self, factor):
        super().__init__()
        self.w = xf.Variable(float(factor), name="w")

    def __call__(self, x):
        return self.w * x


def test_a_static_object_argument_takes_the_fast_path_by_identity():
    @xf.function
    def step(module, x, bump):
        module.w.assign_add(bump)
        return module(x)

    a, b = _Scale(2.0), _Scale(10.0)
    x = jnp.arange(3.0)
    bump = 1.0
    np.testing.assert_allclose(step(a, x, bump), 3.0 * np.arange(3.0))
    entry = step._fast_entries[3]
    assert entry.pattern == (a, DYNAMIC, bump)  # static leaves are matched by identity
    # the same objects: the fast path (no flatten, no key), and the assignment persists
    split = step._split
    step._split = None
    np.testing.assert_allclose(step(a, x, bump), 4.0 * np.arange(3.0))
    step._split = split
    # another module of the same class and shapes is its own key: its own Variable
    np.testing.assert_allclose(step(b, x, 1.0), 11.0 * np.arange(3.0))
    np.testing.assert_allclose(step(a, x, 1.0), 5.0 * np.arange(3.0))
    np.testing.assert_allclose(step(b, x, 1.0), 12.0 * np.arange(3.0))
    assert float(a.w.numpy()) == 5.0 and float(b.w.numpy()) == 12.0
    assert step._fast_entries[3] is entry  # the first pattern keeps the slot


def test_a_static_python_value_is_matched_by_identity_not_taken_as_another():
    @xf.function
    def f(x, power):
        return x ** power

    x = jnp.arange(4.0)
    for power in (2, 3, 2, 3, 2):
        np.testing.assert_allclose(f(x, power), np.arange(4.0) ** power)
    assert f._fast_entries[2].pattern[1] == 2
    # all arrays at the same arity: not the static pattern's call
    np.testing.assert_allclose(f(x, jnp.float32(2.0)), np.arange(4.0) ** 2)
    np.testing.assert_allclose(f(x, jnp.float32(3.0)), np.arange(4.0) ** 3)
    assert f._fast_entries[2].pattern is None  # the all-array entry took the slot
    np.testing.assert_allclose(f(x, 3), np.arange(4.0) ** 3)


def test_a_static_pattern_call_inside_jax_jit_takes_the_transformation_path():
    m = _Scale(3.0)

    @xf.function
    def f(module, x):
        return module(x) + 1

    x = jnp.arange(3.0)
    np.testing.assert_allclose(f(m, x), 3.0 * np.arange(3.0) + 1)
    np.testing.assert_allclose(jax.jit(lambda v: f(m, v))(x), 3.0 * np.arange(3.0) + 1)
    np.testing.assert_allclose(f(m, x), 3.0 * np.arange(3.0) + 1)


def test_defaults_and_keywords_keep_the_slow_path_with_static_objects():
    m = _Scale(2.0)

    @xf.function
    def f(module, x, shift=1.0):
        return module(x) + shift

    x = jnp.arange(3.0)
    for _ in range(2):
        np.testing.assert_allclose(f(m, x), 2.0 * np.arange(3.0) + 1)
        np.testing.assert_allclose(f(m, x, 5.0), 2.0 * np.arange(3.0) + 5)
        np.testing.assert_allclose(f(m, x, shift=7.0), 2.0 * np.arange(3.0) + 7)
    assert all(e.pattern is None or len(e.pattern) <= 2 for e in f._fast_entries.values())


def test_a_pattern_entry_rebuilt_for_a_new_variable_replaces_it_in_the_fast_slot():
    box, runs = [], []  # the Variable arrives after the first trace: a rebuild lifts it

    @xf.function
    def f(module, x):
        runs.append(x.shape)
        if box:
            box[0].assign_add(1.0)
            return module(x) + box[0].value
        return module(x)

    m = _Scale(2.0)
    np.testing.assert_allclose(f(m, jnp.ones(2)), 2.0)
    box.append(xf.Variable(10.0, name="late"))
    np.testing.assert_allclose(f(m, jnp.ones(3)), 13.0)  # the rebuilt entry lifts `late`
    traced = len(runs)
    for want in (14.0, 15.0):  # its program: the Python body does not run again
        np.testing.assert_allclose(f(m, jnp.ones(3)), want)
    assert len(runs) == traced
    # the 2-element shape, traced before `late` existed, is traced again in the rebuilt
    # entry (as the slow path's cache lookup finds it), and so assigns `late`
    np.testing.assert_allclose(f(m, jnp.ones(2)), 16.0)  # 2 + (13 + 1)
    assert float(box[0].numpy()) == 14.0
    assert f._fast_entries[2] is next(e for e in f._cache.values() if e.pattern)


class _Keyed:
    """A static argument keyed by its mutable state (hash and == follow `k`)."""

    def __init__(self, k):
        self.k = k

    def __eq__(self, other):
        return isinstance(other, _Keyed) and other.k == self.k

    def __hash__(self):
        return hash(self.k)


def test_a_static_object_whose_hash_follows_its_state_retraces_after_a_mutation():
    @xf.function
    def f(cfg, x):
        return x * cfg.k

    cfg, x = _Keyed(2.0), jnp.ones(2)
    np.testing.assert_allclose(f(cfg, x), 2.0)
    np.testing.assert_allclose(f(cfg, x), 2.0)
    cfg.k = 5.0  # the cache key of this call is now another one: a new trace, as before
    np.testing.assert_allclose(f(cfg, x), 5.0)
    assert f.tracing_count == 2
