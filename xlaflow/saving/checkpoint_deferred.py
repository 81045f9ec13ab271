"""TF's delayed restoration: values restored into a layer or model that has no variables
yet wait, and are assigned at its first call, once that call has created them.

A restored object's keys are positions in its final variables (checkpoint_graph.py), known
only once every variable exists, so the first call first builds the object in a shape-only
pass (as `model.build` does), then checks and assigns every waiting value, and only then
computes, on the restored values. The hook is in Layer.__call__ (layers/base.py).
"""

from __future__ import annotations

import jax

from xlaflow import _lifting
from xlaflow.layers import base
from xlaflow.saving.checkpoint_graph import expected, locations, match_object, pair_slots

_WHY = {
    "waiting": "the values wait for the first call, which creates the variables (TF's "
               "delayed restoration)",
    "replaced": "a later restore replaced the values waiting for the first call",
    "failed": "the first call failed before the values were assigned",
}


class Deferred:
    """The values waiting for one object. `apply(layer)` checks and assigns them, raising
    before any assignment on a mismatch, and returns (unused, unbound) for the status."""

    def __init__(self, label, apply):
        self.label, self._apply, self.state = label, apply, "waiting"
        self.unused, self.unbound = [], []

    def __call__(self, layer, inputs, args, kwargs):
        self.state = "failed"  # until the values are in
        try:
            _build(layer, inputs, args, kwargs)
        except BaseException:
            if not layer.weights:  # nothing created: as in TF, the values wait on for
                layer.built = False  # the next call (the hook fired only while unbuilt)
                self.state = "waiting"
                base.first_call_hooks[layer] = self
            raise
        # TF's init_scope: assigned to the cells, also when the first call is traced
        with _lifting.outside_traces(), jax.ensure_compile_time_eval():
            self.unused, self.unbound = self._apply(layer)
        self.state = "applied"

    def problem(self):
        """What a status reports while the values are not in: '<label>: <why>'."""
        return f"{self.label}: {_WHY[self.state]}"


def defer(layer, label, apply):
    """Run `apply(layer)` at `layer`'s first call, replacing values already waiting for it.
    `apply` must not hold `layer`: the registry's weak key would then never die."""
    cancel(layer)
    record = Deferred(label, apply)
    base.first_call_hooks[layer] = record
    return record


def cancel(layer):
    """Drop the values waiting for `layer` (a later restore gave it others)."""
    old = base.first_call_hooks.pop(layer, None)
    if old is not None:
        old.state = "replaced"


def is_waiting_kind(obj):
    """Whether restoring into `obj` waits: an unbuilt layer or model with no weights. Not
    "no variables": a Dropout's seed state exists from its construction, before any build."""
    return isinstance(obj, base.Layer) and not obj.built and not obj.weights


def _build(layer, inputs, args, kwargs):
    """Create every variable of `layer`: call it once on abstract values shaped like these
    (Python values stay as given), outside any trace, its created Variables real ones."""
    leaves, tree = jax.tree_util.tree_flatten((inputs, args, kwargs))
    arrays = [i for i, leaf in enumerate(leaves)
              if hasattr(leaf, "shape") and hasattr(leaf, "dtype")]

    def call(*values):
        filled = list(leaves)
        for i, value in zip(arrays, values):
            filled[i] = value
        x, rest, named = tree.unflatten(filled)
        layer(x, *rest, **named)  # outputs unused: only the variables are wanted

    specs = [jax.ShapeDtypeStruct(tuple(leaves[i].shape), leaves[i].dtype) for i in arrays]
    with _lifting.outside_traces():
        _lifting.eval_shape(call, *specs)


def waiting_values(group, path):
    """`apply(model)` for values waiting for `model`'s first call: `group` is {name: (weak
    reference, stored entries, arrays)} of the model (first) and of optimizers without state
    that train it. All are checked, then assigned, as restore does once the model has its
    variables. Weak references: the waiting registry's weak key must be able to die."""
    def apply(model):
        objects = {name: ref() for name, (ref, _, _) in group.items()}
        objects = {name: obj for name, obj in objects.items() if obj is not None}
        where = locations(objects)  # the stored slot marks name these objects' places
        wants, problems, unused, unbound, bound = {}, [], [], [], []
        for name, obj in objects.items():
            stored = group[name][1]
            want = wants[name] = expected(name, obj, stored, lambda *_: model, where)
            pair_slots(want.slots, stored, where)
            found, spare = match_object(name, want, stored)
            problems, unused = problems + found, unused + spare
            unbound, bound = unbound + want.unbound, bound + want.bound
        if problems:
            raise ValueError(f"Checkpoint.restore: {path} does not match "
                             f"{', '.join(map(repr, objects))}, whose values waited for a "
                             "first call; nothing was restored:\n  " + "\n  ".join(problems))
        for name, want in wants.items():
            for key, slot in want.slots.items():
                slot.assign(group[name][2][slot.source or key])
        return unused, [label for label, opt in unbound if not any(opt is b for b in bound)]
    return apply
