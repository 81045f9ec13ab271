"""Argument donation for xf.function: which traced leaves XLA may reuse, split and merged.

A compiled call takes donated leaves and kept leaves as two arguments (jax.jit donates by
argument), so the call splits them and the traced function merges them back in order.
"""

from __future__ import annotations

from xlaflow._signatures import DYNAMIC


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
    """Donation consumes each buffer once: copy any array that two Variables share."""
    seen = set()
    out = []
    for value in values:
        if id(value) in seen:
            value = value.copy()
        seen.add(id(value))
        out.append(value)
    return out
