"""Keras 2's per-output structures: what compile() and fit() take for a model with several
outputs (losses, loss weights, labels, sample weights), lined up with the outputs in order.

As Keras 2's compile_utils: a dict is keyed by output name (an output it leaves out gets
None), a list has one entry per output, and a single object applies to every output.
"""

from __future__ import annotations

from xlaflow.training import output_masks


def pseudo_names(count):
    """Keras 2's names for the outputs of a model that has no output layers (subclassed)."""
    return [f"output_{index + 1}" for index in range(count)]


def conform(struct, names, what):
    """`struct` as one entry per output, in the order of `names`."""
    count = len(names)
    if struct is None:
        return [None] * count
    if isinstance(struct, dict):
        unknown = sorted(set(struct) - set(names), key=str)
        if unknown:
            raise ValueError(f"{what} has keys {unknown} that name no model output; "
                             f"expected keys among the output names {list(names)}")
        return [struct.get(name) for name in names]
    if isinstance(struct, (list, tuple)):
        if len(struct) != count:
            raise ValueError(f"{what} has {len(struct)} entries for a model with {count} "
                             f"outputs {list(names)}; expected one per output")
        return list(struct)
    return [struct] * count


def outputs_of(y_pred, names):
    """The model's outputs as a list in the order of `names` (a dict by key)."""
    if isinstance(y_pred, dict):
        missing = [name for name in names if name not in y_pred]
        if missing:
            raise ValueError(f"the model's outputs {sorted(y_pred)} lack {missing}")
        return [y_pred[name] for name in names]
    if isinstance(y_pred, (list, tuple)):
        return list(y_pred)
    return [y_pred]


def names_of(y_pred, known):
    """The output names of this step's `y_pred`: `known` (a functional model's output
    names) when they fit it, else the dict's keys or Keras 2's 'output_1', ... ."""
    count = len(y_pred) if isinstance(y_pred, (list, tuple, dict)) else 1
    if known is not None and len(known) == count and (
            not isinstance(y_pred, dict) or set(known) == set(y_pred)):
        return list(known)
    if isinstance(y_pred, dict):
        return list(y_pred)
    return pseudo_names(count) if count > 1 else list(known or ["output_1"])


def labels_of(y, names):
    """`y` as one label array per output (a single array applies to every output, as in
    Keras 2)."""
    if y is None:
        raise ValueError("this model's loss and metrics need labels: pass y (one array per "
                         f"output {list(names)}, a list or a dict)")
    return conform(y, names, "y")


def multi_output_loss(loss, weights, y, y_pred, sample_weight, names):
    """(the weighted sum of each output's loss, {output name: its unweighted loss}).

    An output the loss leaves out (a dict without its name) adds nothing, as in Keras 2;
    a loss weight left out is 1."""
    preds = outputs_of(y_pred, names)
    truths = labels_of(y, names)
    losses = conform(loss, names, "loss")
    factors = conform(weights, names, "loss_weights")
    sample_weights = conform(sample_weight, names, "sample_weight")
    total, parts = 0.0, {}
    for name, fn, factor, truth, pred, weight in zip(names, losses, factors, truths, preds,
                                                     sample_weights):
        if fn is None or truth is None:
            continue
        parts[name] = fn(truth, pred, output_masks.apply_mask(pred, weight))
        total = total + (1.0 if factor is None else factor) * parts[name]
    if not parts:
        raise ValueError(f"no output of {list(names)} has both a loss and labels")
    return total, parts
