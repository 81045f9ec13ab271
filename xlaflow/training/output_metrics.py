"""Keras 2's compiled metrics (its MetricsContainer): `metrics=` and `weighted_metrics=`
resolved per output, named `<output>_<metric>` when there are several, updated per output.

A flat list applies to every output (each output gets its own copy of a Metric object), a
list of lists or a dict keyed by output name gives each output its own. 'accuracy' is
resolved per output from that output's loss, else its shapes.
"""

from __future__ import annotations

import jax.numpy as jnp

from xlaflow import metrics as metrics_lib
from xlaflow.training import output_masks, per_output


def _as_list(entry):
    if entry is None:
        return []
    return list(entry) if isinstance(entry, (list, tuple)) else [entry]


def _copy(metric, count):
    """A Metric object given once for `count` outputs: a fresh one per output (Keras 2
    copies it through its config), so that the outputs do not share one accumulator."""
    if not isinstance(metric, metrics_lib.Metric):
        return metric  # a name or a function: resolved anew for each output
    try:
        return type(metric).from_config(metric.get_config())
    except (TypeError, ValueError, NotImplementedError) as error:
        raise ValueError(
            f"metric {metric.name!r} is given once for {count} outputs, and a copy per output "
            f"cannot be made from its config ({error}); give one metric object per output "
            "(a list of lists, or a dict keyed by output name)") from error


def _is_config(entry):
    return isinstance(entry, dict) and "class_name" in entry


def _per_output(metrics, names, what):
    """`metrics` (compile's argument) as one list per output."""
    if metrics is None:
        return [[] for _ in names]
    if _is_config(metrics):
        metrics = [metrics]  # one metric, as serialize() writes it
    if isinstance(metrics, dict) or isinstance(metrics, (list, tuple)) and any(
            isinstance(m, (list, tuple)) for m in metrics):
        return [_as_list(entry) for entry in per_output.conform(metrics, names, what)]
    flat = _as_list(metrics)
    if len(names) == 1:
        return [flat]
    return [[_copy(m, len(names)) for m in flat] for _ in names]


class OutputMetrics:
    """The metrics of each output, in Keras 2's log order: output by output, each output's
    `metrics` then its `weighted_metrics`."""

    def __init__(self, names, metrics, weighted_metrics, losses, taken):
        self.names = list(names)
        if len(self.names) > 1:
            losses = per_output.conform(losses, self.names, "loss")
        else:  # one output: a one-entry list or dict is its loss, whatever the key
            entries = list(losses.values()) if isinstance(losses, dict) else losses
            losses = (list(entries)[:1] or [None]) if isinstance(entries, (list, tuple)) \
                else [entries]
        plain = _per_output(metrics, self.names, "metrics")
        weighted = _per_output(weighted_metrics, self.names, "weighted_metrics")
        # [(metric, weighted?), ...] per output
        self.by_output = []
        for loss, items, weighted_items in zip(losses, plain, weighted):
            self.by_output.append(
                [(metrics_lib.get(m, loss), False) for m in items]
                + [(metrics_lib.get(m, loss), True) for m in weighted_items])
        self.metrics = [m for pairs in self.by_output for m, _ in pairs]
        self._name(taken)

    def _name(self, taken):
        """Keras 2's names: '<output>_<metric>' with several outputs; a weighted metric
        whose unweighted twin has its name gets 'weighted_' before its own."""
        several = len(self.names) > 1
        for name, pairs in zip(self.names, self.by_output):
            plain = {m.name for m, weighted in pairs if not weighted}
            for metric, weighted in pairs:
                base = f"weighted_{metric.name}" if weighted and metric.name in plain \
                    else metric.name
                metric._module_name = f"{name}_{base}" if several else base
        _unique_names(self.metrics, taken)

    def update(self, y, y_pred, sample_weight):
        """Update each output's metrics with its labels, predictions and weights: sample
        weights reach weighted_metrics only, an output's mask reaches all its metrics."""
        if not self.metrics:
            return
        names = per_output.names_of(y_pred, self.names)
        if len(names) != len(self.names):
            raise NotImplementedError(
                f"metrics were set up for {len(self.names)} output(s) {self.names}, but the "
                f"model returned {len(names)}: per-output metrics need a model that returns "
                "as many outputs at every step as at its first; for a model whose outputs "
                "vary, update the metrics in a custom train_step")
        preds = per_output.outputs_of(y_pred, names)
        truths = per_output.labels_of(y, names)
        weights = per_output.conform(sample_weight, names, "sample_weight")
        for pairs, truth, pred, weight in zip(self.by_output, truths, preds, weights):
            if truth is None:
                continue  # Keras 2 skips an output without labels
            masked = output_masks.apply_mask(pred, weight)
            mask = output_masks.mask_weight(pred)
            # Keras 2's match_dtype_and_rank: rank-1 labels of a rank-2 prediction reach
            # every metric as (batch, 1), so a user's metric compares them row by row
            if jnp.ndim(truth) == 1 and jnp.ndim(pred) == 2:
                truth = truth[:, None]
            for metric, weighted in pairs:
                metric.update_state(truth, pred, masked if weighted else mask)


def _unique_names(metrics, taken):
    """Metrics sharing a name (with each other or `taken`) get `_1`, `_2`, ... as in Keras:
    logs are keyed by name, and two 'precision's would otherwise collapse into one entry."""
    taken = set(taken)
    for metric in metrics:
        name, n = metric.name, 0
        while name in taken:
            n += 1
            name = f"{metric.name}_{n}"
        taken.add(name)
        metric._module_name = name
    return metrics
