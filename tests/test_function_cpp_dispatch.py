"""xf.function calls served by jaxlib's C++ dispatcher (xlaflow/_cpp_dispatch.py): a
repeated all-array call of a Variable-free program skips Python, and every call the
Python path must see (eager mode, traces, tapes, host arrays, checks, disable_jit) does."""

import gc
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import _cpp_dispatch
from xlaflow.function import Function

pytestmark = pytest.mark.skipif(not _cpp_dispatch.available(),
                                reason="this jaxlib's C++ dispatcher is not usable")


@pytest.fixture
def misses(monkeypatch):
    """The calls that reached the Python side of the dispatcher, as (args, kwargs)."""
    seen = []
    original = Function._dispatch_miss

    def counting(self, args, kwargs):
        seen.append((args, kwargs))
        return original(self, args, kwargs)

    monkeypatch.setattr(Function, "_dispatch_miss", counting)
    return seen


def _traced_counter():
    runs = []

    @xf.function
    def f(x, y):
        runs.append(1)  # a Python side effect: each time the Python body runs
        return x * 2.0 + y

    return f, runs


def test_a_repeated_array_call_skips_python_and_matches_numpy(misses):
    f, runs = _traced_counter()
    x, y = jnp.arange(4.0), jnp.full((4,), 0.5)
    np.testing.assert_allclose(f(x, y), np.arange(4.0) * 2 + 0.5)
    assert isinstance(f, Function) and "_dispatch" in vars(f)
    np.testing.assert_allclose(f(x, y), np.arange(4.0) * 2 + 0.5)  # the dispatcher learns it
    first = len(misses)
    for _ in range(3):
        np.testing.assert_allclose(f(x, y), np.arange(4.0) * 2 + 0.5)
    assert len(misses) == first  # served in C++, no Python frame of ours
    assert runs == [1]
    # a new shape misses once, traces once, then is served too
    np.testing.assert_allclose(f(jnp.ones(3), jnp.ones(3)), 3.0)
    np.testing.assert_allclose(f(jnp.ones(3), jnp.ones(3)), 3.0)
    assert len(misses) == first + 1 and runs == [1, 1] and f.tracing_count == 2


def test_calls_python_must_see_still_reach_it(misses):
    f, _ = _traced_counter()
    x = jnp.arange(3.0)
    f(x, x)
    before = len(misses)
    f(np.arange(3.0), x)  # host arrays are checked by the Python path
    f(x, y=x)  # keywords
    f(x, 1.0)  # a Python number is static
    f(x, 1.0)
    assert len(misses) == before + 4


def test_out_of_range_host_integers_are_still_refused_after_array_calls():
    @xf.function
    def f(x):
        return x + 1

    f(jnp.arange(3))
    f(jnp.arange(3))
    with pytest.raises((ValueError, OverflowError), match="past 32 bits"):
        f(np.array([2 ** 40, 0, 1], dtype=np.int64))


def test_run_functions_eagerly_runs_the_python_body_every_call():
    f, runs = _traced_counter()
    x = jnp.arange(3.0)
    f(x, x), f(x, x)
    assert runs == [1]
    xf.config.run_functions_eagerly(True)
    try:
        np.testing.assert_allclose(f(x, x), np.arange(3.0) * 3)
        np.testing.assert_allclose(f(x, x), np.arange(3.0) * 3)
    finally:
        xf.config.run_functions_eagerly(False)
    assert runs == [1, 1, 1]
    f(x, x)
    assert runs == [1, 1, 1]  # compiled again, from the cache


def test_called_inside_another_trace_it_is_traced_into_it():
    f, runs = _traced_counter()
    c = jnp.arange(3.0)
    f(c, c), f(c, c)
    assert runs == [1]

    @xf.function
    def outer(x):
        return f(c, c) + x  # concrete arguments, yet the call is part of outer's trace

    np.testing.assert_allclose(outer(jnp.ones(3)), np.arange(3.0) * 3 + 1)
    assert runs == [1, 1]  # as TF: the inner function traces into the outer graph


def test_under_a_gradient_tape_the_call_is_recorded():
    f, _ = _traced_counter()
    x = xf.constant([1.0, 2.0])
    f(x, x), f(x, x)
    with xf.GradientTape() as tape:
        tape.watch(x)
        y = xf.reduce_sum(f(x, x))
    np.testing.assert_allclose(tape.gradient(y, x), [3.0, 3.0])  # d(3x)/dx


def test_disable_jit_runs_the_python_body():
    f, runs = _traced_counter()
    x = jnp.arange(3.0)
    f(x, x), f(x, x)
    with jax.disable_jit():
        np.testing.assert_allclose(f(x, x), np.arange(3.0) * 3)
        np.testing.assert_allclose(f(x, x), np.arange(3.0) * 3)
    assert len(runs) == 3


def test_a_failing_assert_raises_on_every_call():
    @xf.function
    def f(x):
        assert jnp.all(x > 0), "x must be positive"
        return x + 1

    f(jnp.ones(2)), f(jnp.ones(2))
    for _ in range(2):
        with pytest.raises(AssertionError, match="x must be positive"):
            f(-jnp.ones(2))


def test_functions_with_variables_keep_the_python_path():
    v = xf.Variable(1.0)

    @xf.function
    def f(x):
        v.assign_add(1.0)
        return x * v

    f(jnp.ones(2)), f(jnp.ones(2))
    assert "_dispatch" not in vars(f) and type(f) is Function
    assert float(v.numpy()) == 3.0


def test_a_dispatched_function_is_freed_with_its_dispatcher():
    f, _ = _traced_counter()
    f(jnp.ones(2), jnp.ones(2))
    dispatcher = weakref.ref(f._dispatch)
    ref = weakref.ref(f)
    del f
    gc.collect()
    assert ref() is None and dispatcher() is None


def test_a_method_gets_a_dispatcher_per_instance():
    class Scale:
        def __init__(self, k):
            self.k = k

        @xf.function
        def __call__(self, x):
            return x * self.k

    a, b = Scale(2.0), Scale(3.0)
    x = jnp.ones(2)
    for _ in range(2):
        np.testing.assert_allclose(a(x), 2.0)
        np.testing.assert_allclose(b(x), 3.0)


def test_a_check_a_new_shape_adds_raises_on_that_very_call():
    def positive(i, x):
        xf.debugging.assert_positive(x, message="x must be positive")
        return x

    @xf.function(autograph=False)
    def f(x):
        if x.shape[0] == 3:  # only this shape's trace has the check, inside a loop
            x = jax.lax.fori_loop(0, 1, positive, x)
        return x * 2

    f(jnp.ones(2)), f(jnp.ones(2))
    with pytest.raises(xf.errors.InvalidArgumentError, match="x must be positive"):
        f(-jnp.ones(3))
    np.testing.assert_allclose(f(jnp.ones(3)), 2.0)
    np.testing.assert_allclose(f(jnp.ones(2)), 2.0)


def test_a_top_level_check_keeps_its_entry_on_the_python_path():
    @xf.function
    def f(x):
        assert jnp.all(x > 0), "x must be positive"
        return x * 2

    x = jnp.ones(2)
    for _ in range(3):
        np.testing.assert_allclose(f(x), 2.0)
    # its verdict is read on every call: not JAX's slow jit path on every call instead
    assert f._fast_entries[1].checked_outputs
    with pytest.raises(AssertionError, match="x must be positive"):
        f(-x)


def test_a_signature_first_seen_before_its_entry_is_served_later(misses):
    @xf.function
    def g(x, y=None):
        return x if y is None else x + y

    x = jnp.ones(2)
    g(x), g(x)  # the dispatcher exists; g(x, x) is new to it and to g
    g(x, x)
    g(x, x)  # the Python path now has its entry: handed the program's fast-path data
    before = len(misses)
    for _ in range(3):
        np.testing.assert_allclose(g(x, x), 2.0)
    assert len(misses) == before
