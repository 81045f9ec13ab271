"""xf.experimental.numpy (TF's tnp) is jax.numpy under TF's module path."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
import xlaflow.experimental.numpy as tnp


def test_tnp_functions_are_jax_numpy_and_work_on_xlaflow_tensors():
    x = xf.constant([[1.0, 2.0], [3.0, 4.0]])
    assert tnp.sum is jnp.sum and tnp.ndarray is jax.Array
    np.testing.assert_allclose(tnp.tril(tnp.ones((3, 3))), np.tril(np.ones((3, 3))))
    np.testing.assert_allclose(tnp.matmul(x, x), np.array([[7.0, 10.0], [15.0, 22.0]]))
    assert isinstance(tnp.asarray([1, 2]), tnp.ndarray)
    assert xf.experimental.numpy is tnp


def test_tnp_inside_xf_function_compiles():
    @xf.function
    def f(x):
        return tnp.cumsum(x) * tnp.float32(2)

    np.testing.assert_allclose(f(xf.constant([1.0, 2.0, 3.0])), [2.0, 6.0, 12.0])


def test_enable_numpy_behavior_checks_the_options():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tnp.experimental_enable_numpy_behavior(prefer_float32=True)  # JAX's own: silent
    with pytest.warns(UserWarning, match="float32 here.*jax_enable_x64"):
        tnp.experimental_enable_numpy_behavior()
    with pytest.raises(NotImplementedError, match="dtype_conversion_mode='safe'.*"
                                                  "numpy_dtype_promotion"):
        tnp.experimental_enable_numpy_behavior(prefer_float32=True,
                                               dtype_conversion_mode="safe")


def test_unknown_names_say_what_they_are():
    with pytest.raises(AttributeError, match="jax.numpy's API"):
        tnp.not_a_numpy_function  # noqa: B018
    with pytest.raises(AttributeError, match="dtensor is not provided.*xf.distribute"):
        xf.experimental.dtensor  # noqa: B018
    assert "tril" in dir(tnp)
