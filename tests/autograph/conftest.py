"""The oracle for AutoGraph tests: the original Python function run on NumPy values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def _python(value):
    value = np.asarray(value)
    return value if value.ndim else value[()]  # 0-d: a NumPy scalar, as Python code expects


def _compare(got, expect):
    got_leaves, got_tree = jax.tree_util.tree_flatten(got)
    exp_leaves, exp_tree = jax.tree_util.tree_flatten(expect)
    assert got_tree == exp_tree, (got, expect)
    for g, e in zip(got_leaves, exp_leaves):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-5, atol=1e-6)


@pytest.fixture
def agree():
    """agree(fn, *args): the compiled function (args traced) equals plain Python on numpy."""

    def run(fn, *args):
        expect = fn(*[_python(a) for a in args])
        compiled = xf.function(fn)
        got = compiled(*[jnp.asarray(a) for a in args])
        _compare(got, expect)
        return got

    return run
