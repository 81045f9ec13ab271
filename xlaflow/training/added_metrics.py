"""The metrics a model adds in `call` (Keras 2's `self.add_metric(value, name=...)`), as
fit and evaluate log them: one Mean per name, updated inside the compiled steps.

A compiled step returns its logs as a tuple fixed when it is traced, so the names must be
known first: `discover` runs the model abstractly (jax.eval_shape, nothing assigned) in
training and inference mode and lists the names in the order they are added.
"""

from __future__ import annotations

import jax

from xlaflow import metrics as metrics_lib
from xlaflow.layers import added_metrics


class AddedMetrics:
    """The Means of the names found so far (a name, once found, stays: steps traced with
    it keep logging it) and the collector the compiled steps install."""

    def __init__(self, model):
        self.model = model
        self.means = {}  # {name: Mean}, in the order found
        self._key = None  # what the last discovery ran for: (inputs' signature, layers)

    def settle(self, x, layers, taken):
        """Discover the names for inputs like `x` (once per signature and set of
        `layers`); returns True when new names were found. `taken` are the log names
        of the loss and compiled metrics, which an added name may not reuse."""
        from xlaflow import _lifting
        from xlaflow.models.shapes import abstract_inputs

        specs = abstract_inputs(x)
        key = (repr(jax.tree_util.tree_map(lambda s: (s.shape[1:], s.dtype), specs)), layers)
        if key == self._key:
            return False
        if not any(_user_code(m) for m in (self.model, *self.model.submodules)):
            self._key = key  # xlaflow's own layers add no metrics: no pass to run
            return False
        found = {}

        def record(layer, name, value):
            found.setdefault(name, layer)

        with added_metrics.collecting(record):
            for training in (True, False):
                _lifting.eval_shape(lambda inputs, t=training: self.model(inputs, training=t),
                                    specs)
        clash = sorted(set(found) & set(taken))
        if clash:
            raise ValueError(
                f"{self.model.name}: add_metric names {clash} (added by "
                f"{[found[n].name for n in clash]}) are already log names of the loss or "
                f"the compiled metrics {sorted(taken)}; give the added metrics other names")
        new = [name for name in found if name not in self.means]
        for name in new:
            self.means[name] = metrics_lib.Mean(name=name)
        self._key = key
        return bool(new)

    def collecting(self):
        """The context a compiled step runs its body in: values go to `collect`."""
        return added_metrics.collecting(self.collect)

    def collect(self, layer, name, value):
        """The collector of a compiled step: average `value` into `name`'s Mean (all its
        elements, as Keras 2's Mean, so a per-example tensor weighs each example)."""
        mean = self.means.get(name)
        if mean is None:
            raise ValueError(
                f"{layer.name}.add_metric(name={name!r}): this name was not added when "
                f"{self.model.name} was run before the first step to find its metrics "
                f"(found {sorted(self.means)}); the names a model adds must not depend "
                "on its input values")
        mean.update_state(value)


def _user_code(module):
    """Whether `module` runs code of the user's that may call add_metric: a class defined
    outside xlaflow, a Lambda layer's function, or a functional model given graph tensors
    by model.add_metric."""
    from xlaflow.layers.lambda_layer import Lambda

    graph = getattr(module, "_graph", None)
    return not type(module).__module__.startswith("xlaflow.") or isinstance(module, Lambda) \
        or any(kind == "metric" for kind, _, _ in getattr(graph, "sides", ()))
