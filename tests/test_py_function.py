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

    with pytest.raises(Exception, match=r"output 0 has shape \(2,\), but Tout gives \(3,\)"):
        wrong_shape(np.ones(2, np.float32))
    with pytest.raises(ValueError, match="returned 1 value"):
        xf.numpy_function(lambda v: v, [np.ones(2)], [xf.float32, xf.float32])
    with pytest.raises(TypeError, match="Tout must be a dtype"):
        xf.numpy_function(lambda v: v, [np.ones(2)], [object()])
    with pytest.raises(TypeError, match="func must be callable"):
        xf.py_function(3, [np.ones(2)], xf.float32)
