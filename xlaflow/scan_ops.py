"""tf.scan: fold `fn(accumulator, element)` over axis 0 of `elems`, keeping every
accumulated value, as one lax.scan (a compiled loop, eagerly as inside xf.function).

Like xf.map_fn, `fn` is converted by AutoGraph (so a Python `if` on an element works, as in
TF's eager scan) and traced once: Python side effects in it run once, and it may read
Variables but not assign them (thread such state through the accumulator instead).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow.control_flow import _autographed, _no_gradient, _tensors


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
         swap_memory=False, infer_shape=True, reverse=False, name=None):
    """`[a_1, ..., a_n]` stacked along a new axis 0, where `a_i = fn(a_{i-1}, elems[i])`
    (from the last element down with `reverse`). With no `initializer`, the first element
    (the last with `reverse`) is `a_0` and is itself the first output, as in TF.
    `back_prop=False` stops gradients through the outputs (TF 2's meaning)."""
    if not callable(fn):
        raise TypeError(f"scan: fn must be callable; received {fn!r}")
    elems = _tensors(elems)
    leaves = jax.tree_util.tree_leaves(elems)
    if not leaves:
        raise ValueError("scan: elems must hold at least one tensor")
    lengths = {jnp.shape(x)[0] if jnp.ndim(x) else None for x in leaves}
    if None in lengths or len(lengths) != 1:
        raise ValueError(f"scan: every tensor in elems needs the same leading dimension; "
                         f"received shapes {[jnp.shape(x) for x in leaves]}")
    (n,) = lengths
    first = None
    if initializer is None:
        if n == 0:
            raise ValueError("scan: elems is empty and no initializer was given, so there "
                             "is no first element to start from")
        pick = -1 if reverse else 0
        initializer = jax.tree_util.tree_map(lambda x: x[pick], elems)
        first = initializer
        elems = jax.tree_util.tree_map(lambda x: x[:-1] if reverse else x[1:], elems)
    initializer = _tensors(initializer)
    carry_tree = jax.tree_util.tree_structure(initializer)
    fn = _autographed(fn)  # TF's eager scan runs fn on eager tensors: a Python `if` works

    def step(acc, x):
        out = _tensors(fn(acc, x))
        if jax.tree_util.tree_structure(out) != carry_tree:
            raise TypeError(f"scan: fn must return the structure of the accumulator "
                            f"({carry_tree}); it returned {jax.tree_util.tree_structure(out)}")
        return out, out

    _, outputs = jax.lax.scan(step, initializer, elems, reverse=reverse)
    if first is not None:
        outputs = jax.tree_util.tree_map(
            lambda ys, a: jnp.concatenate([ys, a[None]] if reverse else [a[None], ys]),
            outputs, first)
    # TF 2's back_prop=False: tf.stop_gradient on the outputs, as xf.map_fn
    return _no_gradient(outputs, back_prop)
