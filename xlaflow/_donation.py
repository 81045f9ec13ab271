"""Argument donation for xf.function: which traced leaves XLA may reuse, split and merged.

A compiled call takes donated leaves and kept leaves as two arguments (jax.jit donates by
argument), so the call splits them and the traced function merges them back in order.
"""

from __future__ import annotations

import weakref

from xlaflow._signatures import DYNAMIC

# id(array) -> weak reference to it: buffers a recorded eager tape still reads after its
# block (its pullback's residuals, locals passed through), so donation must not consume them
_pinned = {}


def mask(treedef, template, donate_argnums):
    """For each traced leaf, whether it comes from a positional argument being donated."""
    args_def = treedef.children()[0]
    counts = [c.num_leaves for c in args_def.children()]
    owner = [i for i, n in enumerate(counts) for _ in range(n)]
    owner += [-1] * (len(template) - len(owner))
    return [owner[i] in donate_argnums for i, x in enumerate(template) if x is DYNAMIC]


def split(donated_leaves, dyn):
    """The compiled call's trailing arguments: `(dyn,)`, or `(donated, kept)`."""
    if donated_leaves is None:
        return (dyn,)
    return ([x for x, d in zip(dyn, donated_leaves) if d],
            [x for x, d in zip(dyn, donated_leaves) if not d])


def merge(donated_leaves, dyn_parts):
    """Inverse of `split`: the traced leaves in their original order."""
    if donated_leaves is None:
        return dyn_parts[0]
    donated, kept = iter(dyn_parts[0]), iter(dyn_parts[1])
    return [next(donated) if d else next(kept) for d in donated_leaves]


def distinct_buffers(values):
    """Donation consumes each buffer once: copy any array that two Variables share, or
    that a recorded tape still reads (`pin`)."""
    seen = set()
    out = []
    for value in values:
        if id(value) in seen or _pinned and _is_pinned(value):
            value = value.copy()
        seen.add(id(value))
        out.append(value)
    return out


def pin(arrays):
    """Keep `arrays`' buffers from donation while they live: an eager tape's record reads
    the Variable values it was replayed from, and a later compiled call may donate them."""
    for array in arrays:
        key = id(array)
        try:  # the dict bound as a default: callbacks may run at interpreter exit
            _pinned[key] = weakref.ref(array, lambda _, key=key, d=_pinned: d.pop(key, None))
        except TypeError:  # not weak-referenceable (a NumPy scalar): never donated anyway
            continue


def _is_pinned(value):
    ref = _pinned.get(id(value))
    return ref is not None and ref() is value
