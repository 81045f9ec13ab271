"""xf.py_function and xf.numpy_function: eager calls, host callbacks under xf.function
(run on every call, with shapes from TensorSpec Tout), and the errors TF users hit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def test_eager_calls_get_arrays_and_return_tout_dtypes():
    seen = []

    def f(x, y):
        seen.append((type(x), type(y)))
        return x * 2, np.sum(y)

    a, b = xf.numpy_function(f, [np.arange(3), xf.constant([1.5, 2.5])],
                             [xf.float32, xf.int32])
    np.testing.assert_array_equal(a, [0.0, 2.0, 4.0])
    assert a.dtype == jnp.float32 and b.dtype == jnp.int32 and int(b) == 4
    assert seen == [(np.ndarray, np.ndarray)]  # numpy_function passes NumPy arrays
    single = xf.py_function(lambda x: x + 1, [xf.constant(1.0)], Tout=xf.float32)
    assert isinstance(single, jax.Array) and float(single) == 2.0  # a single Tout: a tensor
    kinds = []
    xf.py_function(lambda x: kinds.append(type(x)), [np.ones(2)], Tout=[])
    assert issubclass(kinds[0], jax.Array)  # py_function passes tensors


def test_traced_call_runs_the_python_function_on_every_call():
    calls = []

    def host_median(x):
        calls.append(np.asarray(x).copy())
        return np.median(x, axis=-1).astype(np.float32)  # NumPy, not traceable

    @xf.function
    def f(x):
        m = xf.numpy_function(host_median, [x * 2], xf.TensorSpec([2], xf.float32))
        return m + 1

    x = np.array([[3.0, 1.0, 2.0], [9.0, 7.0, 8.0]], np.float32)
    np.testing.assert_allclose(f(x), np.median(2 * x, -1) + 1)
    np.testing.assert_allclose(f(x + 1), np.median(2 * (x + 1), -1) + 1)
    assert len(calls) == 2  # stateful: once per run, not once per trace
    np.testing.assert_allclose(calls[1], 2 * (x + 1))
    pure = jax.jit(lambda x: xf.numpy_function(np.sort, [x], xf.TensorSpec([3], xf.float32),
                                               stateful=False))
    np.testing.assert_allclose(pure(np.array([3.0, 1.0, 2.0], np.float32)), [1.0, 2.0, 3.0])


def test_errors_name_tout_and_the_fix():
    @xf.function
    def bare_dtype(x):
        return xf.py_function(lambda v: v, [x], Tout=xf.float32)

    with pytest.raises(TypeError, match=r"known shape.*xf.TensorSpec"):
        bare_dtype(np.ones(2, np.float32))

    @xf.function
    def wrong_shape(x):
        return xf.numpy_function(lambda v: v, [x], xf.TensorSpec([3], xf.float32))

    with pytest.raises(ValueError, match=r"output 0 has shape \(2,\), but Tout gives \(3,\)"):
        wrong_shape(np.ones(2, np.float32))
    with pytest.raises(ValueError, match="returned 1 value"):
        xf.numpy_function(lambda v: v, [np.ones(2)], [xf.float32, xf.float32])
    with pytest.raises(TypeError, match="Tout must be a dtype"):
        xf.numpy_function(lambda v: v, [np.ones(2)], [object()])
    with pytest.raises(TypeError, match="func must be callable"):
        xf.py_function(3, [np.ones(2)], xf.float32)


def test_a_failing_func_raises_its_own_error_from_the_call_before_any_assignment():
    # On a GPU a host callback's exception reached the caller only at a later wait (an XLA
    # runtime error from whatever call came next); xf.function raises the func's own
    # exception when its call returns, writes back no Variable, and the next call is clean.
    v = xf.Variable(0.0)

    def host(x):
        if x[0] < 0:
            raise KeyError(f"negative input {x[0]}")
        return x + 1

    @xf.function
    def step(x):
        v.assign_add(1.0)
        out = xf.numpy_function(host, [x], xf.TensorSpec([2], xf.float32))
        v.assign_add(1.0)
        return out * 2

    with pytest.raises(KeyError, match="negative input -1.0"):
        step(np.array([-1.0, 2.0], np.float32))
    assert float(v.numpy()) == 0.0
    np.testing.assert_array_equal(step(np.array([1.0, 2.0], np.float32)), [4.0, 6.0])
    assert float(v.numpy()) == 2.0


def test_after_a_failure_no_later_callback_of_that_run_calls_python():
    # TF stops at the failing op: the Python side effects of later calls must not happen
    calls = []

    def host(x):
        calls.append(float(x))
        if x == 2.0:
            raise ValueError("two")
        return x

    @xf.function
    def loop(n):
        total = xf.constant(0.0)
        for i in xf.range(n):
            total += xf.numpy_function(host, [xf.cast(i, xf.float32)],
                                       xf.TensorSpec([], xf.float32))
        return total

    with pytest.raises(ValueError, match="two"):
        loop(5)
    assert calls == [0.0, 1.0, 2.0]
    calls.clear()
    assert float(loop(2)) == 1.0 and calls == [0.0, 1.0]  # the next run starts clean


def test_the_first_failure_of_a_run_is_raised_not_a_check_its_stand_in_trips():
    # In a loop, an assert traced before the py_function fails in a later iteration on the
    # stand-in zeros the failed func left: TF stops at the func, so its error is raised.
    def host(x):
        if x == 0.5:
            raise ValueError("host failed at 0.5")
        return x - np.float32(0.5)

    @xf.function
    def loop(x):
        for _ in xf.range(3):
            xf.debugging.assert_positive(x, message="assert on a stand-in")
            x = xf.numpy_function(host, [x], xf.TensorSpec([], xf.float32))
        return x

    with pytest.raises(ValueError, match="host failed at 0.5"):
        loop(xf.constant(1.0))
    assert float(loop(xf.constant(3.0))) == 1.5


def test_gradients_refused_clearly_unless_custom_gradient_gives_one():
    x = xf.Variable(np.ones(2, np.float32))
    spec = xf.TensorSpec([2], xf.float32)

    @xf.function
    def through(c):
        with xf.GradientTape() as tape:
            y = xf.reduce_sum(xf.numpy_function(lambda v: v * 2, [x], spec) * c)
        return tape.gradient(y, x)

    with pytest.raises(NotImplementedError, match="custom_gradient"):
        through(np.ones(2, np.float32))

    @xf.function
    def beside(c):  # a callback on an input that needs no gradient is fine
        with xf.GradientTape() as tape:
            y = xf.reduce_sum(x * xf.numpy_function(lambda v: v + 1, [c], spec))
        return tape.gradient(y, x)

    np.testing.assert_allclose(beside(np.array([1.0, 3.0], np.float32)), [2.0, 4.0])

    @xf.custom_gradient
    def doubled(v):
        return xf.numpy_function(lambda a: a * 2, [v], spec), lambda dy: dy * 2

    @xf.function
    def custom(c):
        with xf.GradientTape() as tape:
            y = xf.reduce_sum(doubled(x) * c)
        return tape.gradient(y, x)

    np.testing.assert_allclose(custom(np.array([1.0, 3.0], np.float32)), [2.0, 6.0])


@pytest.mark.parametrize("api", ["py_function", "numpy_function", "numpy_stateless"])
def test_vectorized_map_runs_the_function_once_per_element(api):
    # TF's vectorized_map falls back to a loop for a py_function/numpy_function; XLA cannot
    # batch host code, so xlaflow calls func once per element (and per row of nested vmaps)
    seen = []

    def double_plus(v, b):
        seen.append(float(np.asarray(v)))
        return np.asarray(v) * 2 + np.asarray(b)

    spec = xf.TensorSpec([], xf.float32)

    def call(x, b):
        if api == "py_function":
            return xf.py_function(double_plus, [x, b], spec)
        return xf.numpy_function(double_plus, [x, b], spec, stateful=api == "numpy_function")

    elems = np.array([1.0, 2.0, 3.0], np.float32)
    bias = xf.constant(0.5)  # not mapped over: the same for every element
    out = xf.vectorized_map(lambda x: call(x, bias), elems)
    np.testing.assert_allclose(out, elems * 2 + 0.5)
    assert sorted(seen) == [1.0, 2.0, 3.0]
    grid = np.arange(6, dtype=np.float32).reshape(2, 3)
    nested = jax.jit(jax.vmap(jax.vmap(lambda x: call(x, bias))))(grid)
    np.testing.assert_allclose(nested, grid * 2 + 0.5)


def test_tout_none_is_refused_not_read_as_float64():
    # TF's as_dtype(None) is a TypeError; jnp.dtype(None) is float64, which turned a func
    # returning None into a NaN output (and a float64 request that JAX truncates)
    calls = []
    with pytest.raises(TypeError, match=r"Tout must be a dtype.*received None.*Tout=\[\]"):
        xf.py_function(lambda v: calls.append(v), [np.ones(2)], None)
    with pytest.raises(TypeError, match=r"received None"):
        xf.numpy_function(lambda v: v, [np.ones(2)], [xf.float32, None])
    assert calls == []  # refused before func runs
    assert xf.py_function(lambda v: calls.append(v), [np.ones(2)], []) == []
    assert len(calls) == 1


@pytest.mark.parametrize("api", ["py_function", "numpy_function"])
def test_decorator_form_runs_the_function_on_its_positional_arguments(api):
    # TF 2.14+: @tf.py_function(Tout=...) (func and inp unset) decorates a function that
    # then always runs as a py_function, eagerly and inside tf.function alike
    calls = []

    @getattr(xf, api)(Tout=xf.TensorSpec([2], xf.float32))
    def scaled(x, k):
        calls.append(type(x))
        return np.asarray(x) * np.asarray(k)

    x = np.array([1.0, 2.0], np.float32)
    eager = scaled(x, 3.0)
    assert eager.dtype == np.float32 and scaled.__name__ == "scaled"
    np.testing.assert_array_equal(eager, x * 3)
    compiled = xf.function(lambda v: scaled(v, 2.0) + 1)
    np.testing.assert_array_equal(compiled(x), x * 2 + 1)
    np.testing.assert_array_equal(compiled(x + 1), (x + 1) * 2 + 1)
    assert len(calls) == 3  # the Python function ran on every call, as a host callback
    with pytest.raises(TypeError, match="positionally"):
        scaled(x, k=2.0)


def test_decorator_form_refuses_what_tf_refuses():
    def minus(a, b):
        return a - b

    with pytest.raises(TypeError, match="received None .*missing.*Tout=xf.float32"):
        xf.py_function(minus)  # a bare @xf.py_function: Tout is required
    with pytest.raises(TypeError, match="received None .*missing"):
        xf.py_function(Tout=None)
    with pytest.raises(TypeError, match="don't set `inp`.*decorator"):
        xf.py_function(inp=[], Tout=xf.int32)
    with pytest.raises(TypeError, match="missing required argument inp"):
        xf.numpy_function(minus, Tout=xf.int32)
    with pytest.raises(TypeError, match="must be callable"):
        xf.py_function(Tout=xf.int32)(3)


def test_a_base_exception_from_func_arrives_as_itself():
    # raised inside the callback it became a JaxRuntimeError, which `except
    # KeyboardInterrupt` (or this BaseException subclass) would not catch
    class Stop(BaseException):
        pass

    def host(x):
        raise Stop("stop now")

    @xf.function
    def f(x):
        return xf.numpy_function(host, [x], xf.TensorSpec([], xf.float32))

    with pytest.raises(Stop, match="stop now"):
        f(np.float32(1.0))
