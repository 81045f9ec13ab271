"""xf.recompute_grad: TF's gradient checkpointing, on jax.checkpoint. The wrapped function's
intermediate values are not kept for the backward pass but computed again there, trading
compute for memory (the function's inputs and the Variables it reads are kept)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _lifting
from xlaflow.variables import Variable


def _is_array(x):
    return isinstance(x, (jax.Array, np.ndarray, np.generic)) and not isinstance(x, Variable)


def recompute_grad(f):
    """`f` whose activations are recomputed in the backward pass (TF's tf.recompute_grad).

    `f` may be a function or a Keras layer and may read Variables (their gradients are
    computed as without checkpointing) and assign them (the assignments persist, once).
    Array arguments are traced; other arguments (Python numbers, strings) are constants.
    """
    if not callable(f):
        raise TypeError(f"recompute_grad(f): expected a callable; received "
                        f"{type(f).__name__} {f!r}")

    def checkpointed(*args, **kwargs):
        leaves, tree = jax.tree_util.tree_flatten(
            (args, kwargs), is_leaf=lambda x: isinstance(x, Variable))
        traced = [i for i, x in enumerate(leaves) if _is_array(x)]
        written = []

        def pure(values):
            call_leaves = list(leaves)
            for i, v in zip(traced, values):
                call_leaves[i] = v
            call_args, call_kwargs = jax.tree_util.tree_unflatten(tree, call_leaves)
            # Assignments stay in this scope: they come out as results, so the
            # checkpoint's tracers never reach the Variables (applied once, below).
            with _lifting.OverrideContext([], []) as scope:
                out = f(*call_args, **call_kwargs)
            written[:] = scope.assigned.values()
            out = jax.tree_util.tree_map(
                lambda x: x.value if isinstance(x, Variable) else jnp.asarray(x), out,
                is_leaf=lambda x: isinstance(x, Variable))
            return out, [scope.values[id(v)] for v in written]

        out, values = jax.checkpoint(pure)([leaves[i] for i in traced])
        for var, value in zip(written, values):
            var.assign(value)
        return out

    # name and docstring only: a layer's __dict__ must not be copied onto the function
    return functools.update_wrapper(checkpointed, f, updated=())
