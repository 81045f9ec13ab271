"""TensorArrays carried by tensor loops and branches (autograph/operators/loop_state.py,
conditionals.py): named after their variable, allocated from one abstract pass of the
body, and, for a `dynamic_size=True` array written in a loop whose trip count is known when
tracing, grown by that many rows before the loop (TF's size is then carried as a count).
"""

from __future__ import annotations

import jax

from xlaflow.tensor_array import TensorArray


class _Growth:
    """What the abstract pass of a loop of `trips` iterations learns of one dynamic array
    that had `base` rows: the `rows` its writes need (more than `base`: the loop grows it).
    Kept in the array's pytree structure, equal to any other: arrays must meet in a cond."""

    __slots__ = ("base", "rows", "trips")

    def __init__(self, base, trips):
        self.base = self.rows = base
        self.trips = trips

    def __eq__(self, other):
        return isinstance(other, _Growth)

    def __hash__(self):
        return 1


def _is_array(x):
    return isinstance(x, TensorArray)


def holds_dynamic(value):
    """Whether `value` (a pytree) holds a `dynamic_size=True` TensorArray."""
    return any(_is_array(leaf) and leaf.dynamic_size
               for leaf in jax.tree_util.tree_leaves(value, is_leaf=_is_array))


def probing(value, trips):
    """`value` for the abstract pass of a loop of `trips` iterations: each dynamic array
    grown by `trips` rows, with a _Growth record of the rows its writes need; returns (that
    value, the records by leaf position)."""
    leaves, tree = jax.tree_util.tree_flatten(value, is_leaf=_is_array)
    records, out = {}, []
    for k, leaf in enumerate(leaves):
        if _is_array(leaf) and leaf.dynamic_size:
            records[k] = _Growth(leaf._size, trips)
            leaf = leaf.grown_by(trips, records[k])
        out.append(leaf)
    return jax.tree_util.tree_unflatten(tree, out), records


def grown_like(before, after, trips, records):
    """`before` allocated as allocated_like does from the abstract pass's `after`, with each
    dynamic array that the pass saw written past its rows (`records`, from probing) grown
    to the rows its writes need (none for 0 trips: its size stays the one it has)."""
    before = allocated_like(before, after)
    leaves, tree = jax.tree_util.tree_flatten(before, is_leaf=_is_array)
    out = [leaf.grown_by(records[k].rows - leaf._size) if k in records and trips and
           records[k].rows > leaf._size and leaf.allocated else leaf
           for k, leaf in enumerate(leaves)]
    return jax.tree_util.tree_unflatten(tree, out)


def regrown(before, after):
    """The label of a dynamic array in `before` that `after` (one traced iteration of a
    loop carrying it) has grown by a loop's trip count, as an inner loop writing it does;
    else None (rows changed otherwise are the loop's usual carry error)."""
    leaves_b = jax.tree_util.tree_leaves(before, is_leaf=_is_array)
    leaves_a = jax.tree_util.tree_leaves(after, is_leaf=_is_array)
    for b, a in zip(leaves_b, leaves_a):
        if _is_array(b) and _is_array(a) and a.grown and (
                not b.grown or b.allocated and a.allocated and b._size != a._size):
            return b._label.text or "TensorArray"
    return None


def holds_unallocated(value):
    """Whether `value` (a pytree) holds a TensorArray whose element shape is not known yet."""
    return any(_is_array(leaf) and not leaf.allocated
               for leaf in jax.tree_util.tree_leaves(value, is_leaf=_is_array))


def labelled(value, label):
    """`value` with the TensorArrays it holds named `label` in errors (unless named)."""
    if not any(map(_is_array, jax.tree_util.tree_leaves(value, is_leaf=_is_array))):
        return value  # untouched: a list must keep its identity
    return jax.tree_util.tree_map(lambda x: x.labelled(label) if _is_array(x) else x, value,
                                  is_leaf=_is_array)


def allocated_like(before, after):
    """`before` with each unwritten TensorArray allocated with the element shape of the
    array at the same place in `after` (one traced pass of a loop body or branch, whose
    first write gave that array its shape, as TF infers it); unchanged where `after` has
    another structure (the loop's own check then names the variable)."""
    leaves_b, tree_b = jax.tree_util.tree_flatten(before, is_leaf=_is_array)
    leaves_a, tree_a = jax.tree_util.tree_flatten(after, is_leaf=_is_array)
    if tree_a != tree_b:
        return before
    out = [b.allocate(a.element_shape) if _is_array(b) and _is_array(a) and
           not b.allocated and a.allocated and a.dtype == b.dtype else b
           for b, a in zip(leaves_b, leaves_a)]
    return jax.tree_util.tree_unflatten(tree_b, out)
