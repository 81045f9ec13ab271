"""`items = ag__.list_append(items, x)`: Python append, or collecting a tensor loop's items."""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp

from xlaflow.autograph.operators.variables import check_defined


class Accumulator:
    """Stands in for a list inside a traced loop body: it only collects appended values,
    which the loop stacks along its iterations and turns back into list items afterwards."""

    __slots__ = ("base", "items", "name")

    def __init__(self, name, items=()):
        self.name = name
        self.items = list(items)
        self.base = len(self.items)

    def fork(self):
        """A copy for one branch of a tensor `if`: what it appends is `appended()`."""
        return Accumulator(self.name, self.items)

    def appended(self):
        return self.items[self.base:]

    def _fail(self, *args, **kwargs):
        raise TypeError(
            f"inside a loop over a tensor, list '{self.name}' only supports .append(); its "
            "items (one per iteration, stacked by the loop) are available after the loop")

    __len__ = __getitem__ = __iter__ = __setitem__ = __contains__ = _fail

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._fail()


def list_append(target, item):
    """Append `item` to `target` and return it (the converted `target.append(item)`)."""
    check_defined((item,))
    if isinstance(target, Accumulator):
        target.items.append(item)
        return target
    target.append(item)
    return target


# Lists a tensor loop appended to -> (their items then, the stacked array they were cut
# from). `jnp.stack(items)` (or jnp.array/asarray) on such a list, still holding exactly
# those items, returns that array instead of re-stacking one slice per iteration, which
# left hundreds of slice equations for XLA to fold away (compile time, not run time).
# Keyed by id: the user's list object itself gets the items, so every reference to it sees
# them; the identity check of each item makes a reused id harmless. Bounded: entries hold
# traced values of finished traces.
_STACKED = collections.OrderedDict()
_STACKED_MAX = 64


def extend_from_loop(target, per_step):
    """Append a tensor loop's items to the list `target` in place: each iteration's appends
    (`per_step`: one stacked pytree per append in the body), in order."""
    rows = [_rows(s) for s in per_step]
    before = tuple(target)
    for step in zip(*rows):
        target.extend(step)
    plain = all(isinstance(s, jax.Array) for s in per_step) and len(
        {(s.shape, s.dtype) for s in per_step}) == 1
    if not plain or not all(isinstance(x, jax.Array) and x.shape == per_step[0].shape[1:]
                            and x.dtype == per_step[0].dtype for x in before):
        return

    def stacked():
        rows = per_step[0] if len(per_step) == 1 else jnp.stack(per_step, axis=1).reshape(
            (-1,) + per_step[0].shape[1:])
        return jnp.concatenate([jnp.stack(before), rows]) if before else rows

    _STACKED[id(target)] = (tuple(target), stacked)
    _STACKED.move_to_end(id(target))
    while len(_STACKED) > _STACKED_MAX:
        _STACKED.popitem(last=False)


def _stacked(obj):
    """The stacked array `obj` was cut from, if it is a loop's list with its items intact."""
    entry = _STACKED.get(id(obj)) if type(obj) is list else None
    if entry is None:
        return None
    items, stacked = entry
    intact = len(obj) == len(items) and all(a is b for a, b in zip(obj, items))
    return stacked() if intact else None


def _rows(tree):
    """The rows of a stacked pytree, one pytree per leading index. One lax.split per leaf:
    indexing row by row traced a separate slice helper per index (20 ms for 256 rows)."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    length = leaves[0].shape[0]
    if length == 0:
        return []
    split = [[jax.lax.squeeze(p, (0,)) for p in jax.lax.split(leaf, [1] * length)]
             for leaf in leaves]
    return [jax.tree_util.tree_unflatten(treedef, row) for row in zip(*split)]


def _stack(arrays, axis=0, out=None, *, dtype=None):
    fast = _stacked(arrays) if axis == 0 and out is None and dtype is None else None
    return fast if fast is not None else jnp.stack(arrays, axis=axis, out=out, dtype=dtype)


def _array_like(function):
    def convert(obj, dtype=None, **kwargs):
        fast = _stacked(obj) if dtype is None and not kwargs else None
        return fast if fast is not None else function(obj, dtype=dtype, **kwargs)
    return convert


OVERRIDES = {jnp.stack: _stack, jnp.array: _array_like(jnp.array),
             jnp.asarray: _array_like(jnp.asarray)}
