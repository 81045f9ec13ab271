"""Keras 2's `model.add_loss(tensor)` / `model.add_metric(tensor, name=...)` on a functional
model, with tensors of its graph (the functional VAE's KL term): the graph computes them
with the outputs on every call (Graph.add_side), and the call adds their values as a
layer's `add_loss`/`add_metric` inside `call` would."""

from __future__ import annotations

from xlaflow.layers import added_metrics
from xlaflow.layers.symbolic import is_symbolic


class GraphSides:
    """Model's methods for tensors of its graph added as losses and metrics."""

    def _run_graph(self, inputs, training):
        """The graph's outputs, its side tensors' values added as losses and metrics. With
        host layers (strings), a direct call runs them first; fit/predict did already."""
        host = self.__dict__.get("_host")
        if host is not None and not self.__dict__.get("_host_layers_ran"):
            inputs = host.run(self, inputs)
        outputs, sides = self._graph.run_with_sides(inputs, training, host)
        for kind, value, name in sides:
            if kind == "loss":
                super().add_loss(value)
            else:
                super().add_metric(value, name=name)
        return outputs

    def _add_sides(self, sides):
        """Add (kind, graph tensor, name) sides, as a config or a clone restores them."""
        for kind, tensor, name in sides:
            self._graph.add_side(kind, tensor, name)

    def add_loss(self, losses):
        """Layer.add_loss; on a functional model also a tensor of its graph (Keras 2's
        `model.add_loss(kl)`), computed and added on every call."""
        flat = [x for x in (losses if isinstance(losses, (list, tuple)) else [losses])
                if x is not None]
        if self._graph is not None and flat and all(is_symbolic(x) for x in flat):
            for tensor in flat:
                self._graph.add_side("loss", tensor)
            return
        super().add_loss(losses)

    def add_metric(self, value, name=None, aggregation="mean"):
        """Layer.add_metric; on a functional model also a tensor of its graph, computed and
        averaged over each epoch as `name`."""
        if self._graph is not None and is_symbolic(value):
            added_metrics.check_aggregation(self, name, aggregation)
            added_metrics.check_name(self, name)
            self._graph.add_side("metric", value, name)
            return
        super().add_metric(value, name, aggregation)
