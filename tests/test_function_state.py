"""xf.function state lifting: Variables reached any way are inputs; assignments persist."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf

GLOBAL_V = xf.Variable(0.0, name="global_v")
UNTOUCHED = xf.Variable(5.0, name="untouched")


def test_closure_assignment_persists():
    v = xf.Variable(jnp.zeros(3), name="acc")

    @xf.function
    def add(x):
        v.assign_add(x)
        return v.value * 2

    np.testing.assert_array_equal(add(jnp.ones(3)), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(add(jnp.ones(3)), [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(v.numpy(), [2.0, 2.0, 2.0])
    assert add.tracing_count == 1


def test_global_variable_and_reads_see_assignments_in_order():
    GLOBAL_V.assign(0.0)

    @xf.function
    def f(x):
        before = GLOBAL_V.value
        GLOBAL_V.assign(GLOBAL_V * 2 + x)
        return before, GLOBAL_V.read_value()

    before, after = f(jnp.float32(1.0))
    assert float(before) == 0.0 and float(after) == 1.0
    before, after = f(jnp.float32(1.0))
    assert float(before) == 1.0 and float(after) == 3.0
    assert float(GLOBAL_V.numpy()) == 3.0


def test_untouched_variables_are_not_inputs():
    v = xf.Variable(1.0, name="used")

    @xf.function
    def f(x):
        if False:  # a reference that never runs
            UNTOUCHED.assign(0.0)
        return x * v

    cf = f.get_concrete_function(jnp.float32(2.0))
    assert [var.name for var in cf.variables] == ["used"]
    main = re.search(r"func.func public @main\((.*?)\) ->", cf.as_text()).group(1)
    assert main.count("%arg") == 2  # v and x: the untouched Variable is not an input
    assert "5.0" not in cf.as_text()
    assert float(f(jnp.float32(2.0))) == 2.0


def test_values_are_not_baked_in_as_constants():
    v = xf.Variable(3.0)

    @xf.function
    def f(x):
        return x * v

    assert float(f(jnp.float32(2.0))) == 6.0
    v.assign(10.0)  # eager assignment between calls must be seen without retracing
    assert float(f(jnp.float32(2.0))) == 20.0
    assert f.tracing_count == 1


class Counter:
    def __init__(self, start):
        self.count = xf.Variable(start, name="count")

    @xf.function
    def increment(self, by):
        self.count.assign_add(by)
        return self.count.value


def test_methods_are_bound_per_instance():
    a, b = Counter(0), Counter(100)
    assert int(a.increment(jnp.int32(1))) == 1
    assert int(a.increment(jnp.int32(1))) == 2
    assert int(b.increment(jnp.int32(5))) == 105
    assert int(a.count.numpy()) == 2 and int(b.count.numpy()) == 105
    assert a.increment is a.increment and a.increment is not b.increment
    assert a.increment.tracing_count == 1 and b.increment.tracing_count == 1
    assert Counter.increment.python_function.__name__ == "increment"


def test_module_owned_variables_and_nested_functions():
    class Dense(xf.Module):
        def __init__(self):
            super().__init__()
            self.w = xf.Variable(jnp.eye(2), name="w")
            self.b = xf.Variable(jnp.zeros(2), name="b")
            self.calls = xf.Variable(0, name="calls", trainable=False)

        @xf.function
        def __call__(self, x):
            self.calls.assign_add(1)
            return x @ self.w + self.b

    layer = Dense()
    # tf.Module's order: attributes sorted by name
    assert [v.name for v in layer.variables] == ["b", "calls", "w"]
    assert [v.name for v in layer.trainable_variables] == ["b", "w"]

    @xf.function
    def step(x):
        y = layer(x)  # a nested xf.function is inlined into this trace
        layer.b.assign_add(jnp.ones(2))
        return y

    x = jnp.array([[1.0, 2.0]])
    np.testing.assert_array_equal(step(x), [[1.0, 2.0]])
    np.testing.assert_array_equal(step(x), [[2.0, 3.0]])
    assert int(layer.calls.numpy()) == 2
    np.testing.assert_array_equal(layer.b.numpy(), [2.0, 2.0])


def test_variables_passed_as_arguments_and_in_containers():
    u = xf.Variable(jnp.ones(2), name="u")
    w = xf.Variable(jnp.ones(2), name="w")

    @xf.function
    def scale_all(variables, factor):
        for var in variables["list"]:
            var.assign(var * factor)
        return variables["single"].value

    out = scale_all({"list": [u, w], "single": u}, jnp.float32(3.0))
    np.testing.assert_array_equal(out, [3.0, 3.0])
    np.testing.assert_array_equal(u.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(w.numpy(), [3.0, 3.0])

    @xf.function
    def bump(var):
        var.assign_add(1.0)

    bump(u)
    bump(w)  # a different Variable is a different program input: it retraces
    np.testing.assert_array_equal(u.numpy(), [4.0, 4.0])
    np.testing.assert_array_equal(w.numpy(), [4.0, 4.0])
    assert bump.tracing_count == 2


def test_object_holding_variables_as_argument():
    class State:
        def __init__(self):
            self.step = xf.Variable(0, name="step")

    @xf.function
    def tick(state):
        state.step.assign_add(1)
        return state.step.value

    s = State()
    assert [int(tick(s)) for _ in range(3)] == [1, 2, 3]
    assert tick.tracing_count == 1


def test_variable_reached_only_through_a_helper_is_discovered():
    hidden = xf.Variable(2.0, name="hidden")

    def helper():
        return hidden  # reachable only by calling this function

    def get():
        return helper()

    @xf.function
    def f(x):
        var = get()
        var.assign(var * x)
        return var.value

    assert float(f(jnp.float32(3.0))) == 6.0
    assert float(f(jnp.float32(3.0))) == 18.0
    assert float(hidden.numpy()) == 18.0
    assert f.tracing_count == 1


def test_returning_a_variable_returns_its_value():
    v = xf.Variable(1.0)

    @xf.function
    def f():
        return v.assign_add(1.0), {"v": v}

    a, d = f()
    assert isinstance(a, jax.Array) and float(a) == 2.0 and float(d["v"]) == 2.0


def test_variable_creation_on_first_trace_only():
    class Lazy(xf.Module):
        def __init__(self):
            super().__init__()
            self.v = None

        @xf.function
        def __call__(self, x):
            if self.v is None:
                self.v = xf.Variable(jnp.zeros(3), name="lazy")
            self.v.assign_add(x)
            return self.v.value

    m = Lazy()
    np.testing.assert_array_equal(m(jnp.ones(3)), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(m(jnp.ones(3)), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(m(jnp.ones(3) * 2), [4.0, 4.0, 4.0])
    assert m.v.name == "lazy" and len(m.variables) == 1

    @xf.function
    def creates_every_time(x):
        v = xf.Variable(1.0)
        return x * v

    with pytest.raises(ValueError, match="created a Variable .* other than its first"):
        creates_every_time(jnp.float32(1.0))


def test_variable_initial_value_from_function_input_is_an_error():
    @xf.function
    def f(x):
        v = xf.Variable(x * 2)
        return v.value

    with pytest.raises(ValueError, match="'f': xf.Variable's initial value depends on the "
                       "values of the function's arguments"):
        f(jnp.ones(2))


def test_variable_initial_value_from_other_variables_and_shapes_is_lifted_as_in_tf():
    # TF's guide pattern: created on the first call, its initial value computed outside the
    # function (init_scope) from another Variable's current value, or from a shape only
    class Lazy(xf.Module):
        def __init__(self):
            super().__init__()
            self.w = xf.Variable(jnp.asarray([1.0, 2.0, 3.0]))
            self.v = self.ones = None

        @xf.function
        def __call__(self, x):
            if self.v is None:
                self.v = xf.Variable(xf.ones_like(self.w) * self.w * 2)
                self.ones = xf.Variable(xf.ones_like(x))
            self.w.assign_add(x)
            return self.v + self.ones + x

    m = Lazy()
    x = jnp.asarray([10.0, 20.0, 30.0])
    np.testing.assert_array_equal(m(x), [13.0, 25.0, 37.0])  # v = 2 * w before the update
    np.testing.assert_array_equal(m.v.numpy(), [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(m(x), [13.0, 25.0, 37.0])  # created once, not again
    np.testing.assert_array_equal(m.w.numpy(), [21.0, 42.0, 63.0])
    assert len(m.variables) == 3


def test_creating_a_variable_in_a_later_signature_is_an_error():
    holder = {}

    @xf.function
    def f(x):
        if x.shape[0] == 3 and "v" not in holder:
            holder["v"] = xf.Variable(0.0)
        return x

    f(jnp.ones(2))
    with pytest.raises(ValueError, match="Variables may only be created on the first trace"):
        f(jnp.ones(3))


def test_eager_and_compiled_agree():
    def make():
        v = xf.Variable(jnp.arange(4.0), name="v")

        def step(x, n):
            for i in range(n):
                v.assign(v * 0.5 + x * i)
            return jnp.sum(v.value), v.value

        return v, step

    v1, step1 = make()
    v2, step2 = make()
    compiled = xf.function(step2)
    for _ in range(3):
        expect = step1(jnp.ones(4), 3)
        got = compiled(jnp.ones(4), 3)
        np.testing.assert_allclose(got[0], expect[0], rtol=1e-6)
        np.testing.assert_allclose(got[1], expect[1], rtol=1e-6)
    np.testing.assert_allclose(v1.numpy(), v2.numpy(), rtol=1e-6)


def test_run_functions_eagerly_runs_python():
    v = xf.Variable(0.0)
    seen = []

    @xf.function
    def f(x):
        seen.append(type(x))
        v.assign_add(x)
        return v.value

    xf.config.run_functions_eagerly(True)
    assert xf.config.functions_run_eagerly()
    f(jnp.float32(1.0))
    f(jnp.float32(1.0))
    assert len(seen) == 2 and not any(issubclass(t, jax.core.Tracer) for t in seen)
    assert f.tracing_count == 0 and float(v.numpy()) == 2.0
    xf.config.run_functions_eagerly(False)
    f(jnp.float32(1.0))
    assert issubclass(seen[-1], jax.core.Tracer) and f.tracing_count == 1
    assert float(v.numpy()) == 3.0


def test_jit_compile_false_runs_eagerly():
    @xf.function(jit_compile=False)
    def f(x):
        return float(x) + 1  # would fail under tracing

    assert f(jnp.float32(1.0)) == 2.0 and f.tracing_count == 0


def test_grad_through_an_xf_function():
    @xf.function
    def f(x):
        return jnp.sum(x ** 2)

    np.testing.assert_allclose(jax.grad(f)(jnp.array([1.0, 2.0])), [2.0, 4.0])


def test_assigning_function_inside_plain_jit_is_a_clear_error():
    v = xf.Variable(0.0, name="v")

    @xf.function
    def f(x):
        v.assign(x)
        return x

    with pytest.raises(TypeError, match="assigns Variable 'v' but was called inside a plain"):
        jax.jit(f)(jnp.float32(1.0))
    assert float(v.numpy()) == 0.0


def test_donated_arguments():
    @xf.function(donate_argnums=(0,))
    def f(buffer, y):
        return buffer + y

    x = jnp.ones(1000)
    y = jnp.ones(1000)
    np.testing.assert_array_equal(f(x, y), np.full(1000, 2.0))
    assert x.is_deleted() and not y.is_deleted()


def test_each_signature_lifts_only_what_it_reaches():
    modules = []
    for i in range(3):
        m = xf.Module()
        m.w = xf.Variable(float(i), name=f"w{i}")
        modules.append(m)

    @xf.function
    def read(m, x):
        return m.w * x

    for i, m in enumerate(modules):
        assert float(read(m, jnp.float32(2.0))) == 2.0 * i
    sizes = [len(entry.variables) for entry in read._cache.values()]
    assert sizes == [1, 1, 1] and read.tracing_count == 3


def test_an_argument_donated_by_keyword_is_donated():
    @xf.function(donate_argnums=0)
    def add(x, y):
        return x + y

    a, b = jnp.ones(3), jnp.ones(3)
    np.testing.assert_array_equal(add(x=a, y=b), 2 * np.ones(3))
    assert a.is_deleted()  # as jax.jit(donate_argnums=0) does for x=a


def test_the_fast_path_closes_for_eager_mode_after_a_compiled_call():
    seen = []

    @xf.function
    def f(x):
        seen.append(type(x))
        return x + 1

    f(jnp.ones(2))  # compiled: later calls with arrays take the fast path
    f(jnp.ones(2))
    assert len(seen) == 1
    with xf.config.override(run_functions_eagerly=True):
        np.testing.assert_allclose(f(jnp.ones(2)), 2.0)
    assert len(seen) == 2 and not issubclass(seen[-1], jax.core.Tracer)
    f(jnp.ones(2))
    assert len(seen) == 2  # compiled again, from the cache


def test_a_compiled_function_called_inside_another_trace_sees_its_assignments():
    # g's compiled program reads v's cell; inside f's trace g must be inlined instead, so
    # that it reads f's assignment (the fast path must not run g's program there).
    v = xf.Variable(1.0)
    g = xf.function(lambda x: x * v.value)
    one = jnp.ones(())  # a concrete array, also inside f's trace
    assert float(g(one)) == 1.0

    @xf.function
    def f(x):
        v.assign(5.0)
        return g(one)

    assert float(f(jnp.ones(()))) == 5.0


def test_a_call_from_another_thread_while_a_trace_runs_is_exact():
    import threading

    v = xf.Variable(2.0)
    g = xf.function(lambda x: x * v.value)
    g(jnp.ones(()))
    tracing, release, results = threading.Event(), threading.Event(), []

    @xf.function
    def slow(x):
        tracing.set()
        release.wait(10)  # holds this thread's trace open
        return x + 1

    worker = threading.Thread(target=lambda: results.append(slow(jnp.ones(()))))
    worker.start()
    assert tracing.wait(10)
    try:
        got = [float(g(jnp.full((), float(i)))) for i in range(3)]  # the full path
    finally:
        release.set()
        worker.join(10)
    assert got == [0.0, 2.0, 4.0] and float(results[0]) == 2.0
    assert float(g(jnp.ones(()))) == 2.0


def test_an_assigning_call_inside_a_users_jax_jit_is_refused_not_leaked():
    # Concrete arguments take the fast path, but inside the user's jax.jit the compiled
    # call's results are that trace's tracers: they must not be written to the Variable.
    v = xf.Variable(1.0, name="counter")

    @xf.function
    def bump(x):
        v.assign_add(x)
        return v.value

    one = jnp.ones(())
    bump(one)
    with pytest.raises(TypeError, match="assigns Variable 'counter'.*jax.jit"):
        jax.jit(lambda: bump(one))()
    assert float(v.numpy()) == 2.0
    assert float(bump(one)) == 3.0


def test_variable_from_a_traced_value_of_plain_jax_jit_names_the_transformation():
    @jax.jit
    def f(x):
        return xf.Variable(x).value

    with pytest.raises(ValueError, match=r"JAX transformation \(jax.jit"):
        f(jnp.ones(2))
