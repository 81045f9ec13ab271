"""Running TF's AutoGraph reference programs three ways: Python (the oracle), compiled on
tensors (lax control flow) and compiled on the Python values (decided while tracing)."""

import inspect
import os

import jax
import jax.numpy as jnp
import numpy as np

import xlaflow as xf


def tensor(value):
    """`value` as a jax array when TF's reference tests make it a tensor (numbers, lists,
    arrays); callables, types and Variables pass as they are."""
    if isinstance(value, (bool, int, float, list, np.ndarray, np.generic)):
        return jnp.asarray(value)
    return value


def same(got, expect):
    """Equal structure, and equal leaves (a tensor equals the Python number it holds)."""
    got_leaves, got_tree = jax.tree_util.tree_flatten(got)
    exp_leaves, exp_tree = jax.tree_util.tree_flatten(expect)
    assert got_tree == exp_tree, (got, expect)
    for g, e in zip(got_leaves, exp_leaves):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-6)


_drawn = {}  # fn: its xf.function on tensors, for three_ways(..., drawn=True)


def three_ways(fn, *args, static=True, drawn=False):
    """fn under xf.function, on tensors and (if `static`) on the Python values, equals fn
    run by Python (on NumPy arrays where the tensors were Python lists).

    `drawn` (hypothesis tests): the tensor runs reuse one xf.function per fn, so each input
    shape is traced and compiled once and that program is checked on every drawn example;
    the Python values are still traced afresh, as each value is a program of its own."""
    compiled = xf.function(fn)
    on_tensors = _drawn.setdefault(fn, xf.function(fn)) if drawn else compiled
    same(on_tensors(*map(tensor, args)), fn(*[
        np.asarray(a) if isinstance(a, list) else a for a in args]))
    if static:
        same(compiled(*args), fn(*args))


def line_of(fn, text):
    """A pattern for `file.py:N`, N the line of `fn` that first contains `text`."""
    lines, first = inspect.getsourcelines(fn)
    offset = next(i for i, line in enumerate(lines) if text in line)
    return rf"{os.path.basename(inspect.getsourcefile(fn))}:{first + offset}\b"
