"""Gradients with respect to Variables: `xf.value_and_grad(fn, wrt=...)` and `xf.grad`.

`fn` reads the Variables in `wrt` as ordinary Variables; underneath, jax.value_and_grad
differentiates a pure function of their values. Assignments `fn` makes to other Variables
(batch statistics, RNG state) come out of the transformation as values and are applied
afterwards, so they persist as in eager mode and never leak tracers.
"""

from __future__ import annotations

import jax

from xlaflow import _lifting
from xlaflow.module import Module
from xlaflow.variables import Variable


def _wrt_variables(wrt):
    """The Variables a `wrt` structure names: Variables, Modules (their trainable
    variables), and lists/tuples/dicts of those. Returns (variables, rebuild)."""
    def expand(x):
        return list(x.trainable_variables) if isinstance(x, Module) else x

    structure = jax.tree_util.tree_map(expand, wrt, is_leaf=lambda x: isinstance(
        x, (Variable, Module)))
    leaves, treedef = jax.tree_util.tree_flatten(
        structure, is_leaf=lambda x: isinstance(x, Variable))
    for leaf in leaves:
        if not isinstance(leaf, Variable):
            raise TypeError(f"wrt must contain xf.Variables or Modules; received "
                            f"{type(leaf).__name__}")
    return leaves, treedef


def value_and_grad(fn, wrt, has_aux=False):
    """`fn`'s value and its gradient with respect to the Variables in `wrt`.

    Returns a function with `fn`'s signature giving `(value, grads)` (or
    `((value, aux), grads)` with `has_aux`), where `grads` mirrors `wrt`'s structure
    (a Module becomes the list of its trainable variables).

    >>> w = Variable(3.0)
    >>> value, g = value_and_grad(lambda x: w * w * x, wrt=w)(2.0)
    >>> float(value), float(g)
    (18.0, 12.0)
    """
    def run(*args, **kwargs):
        variables, treedef = _wrt_variables(wrt)

        assigned = []  # the Variables fn assigned (kept out of the pytree of outputs)

        def pure(values):
            with _lifting.OverrideContext(variables, values) as scope:
                out = fn(*args, **kwargs)
                out = jax.tree_util.tree_map(
                    lambda x: x.value if isinstance(x, Variable) else x, out,
                    is_leaf=lambda x: isinstance(x, Variable))
            assigned[:] = scope.assigned.values()
            value, aux = out if has_aux else (out, None)
            return value, (aux, [scope.values[id(v)] for v in assigned])

        current = [v.value for v in variables]
        (value, (aux, written)), grads = jax.value_and_grad(pure, has_aux=True)(current)
        for var, new in zip(assigned, written):
            var.assign(new)
        grads = jax.tree_util.tree_unflatten(treedef, grads)
        return ((value, aux) if has_aux else value), grads

    return run


def grad(fn, wrt, has_aux=False):
    """The gradient of `fn` with respect to the Variables in `wrt` (see value_and_grad)."""
    vg = value_and_grad(fn, wrt, has_aux)

    def run(*args, **kwargs):
        out, grads = vg(*args, **kwargs)
        return (grads, out[1]) if has_aux else grads

    return run
