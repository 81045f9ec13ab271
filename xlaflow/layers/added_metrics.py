"""Keras 2's `self.add_metric(value, name=...)` inside `call`: the value goes to the
collector that fit/evaluate's compiled steps install (training/added_metrics.py).

Layers know nothing of training: a call outside any collector (the model called eagerly,
predict) checks its arguments and records nothing. Within one outermost call a name may be
added once, so a shared layer or a typo cannot fold two quantities into one log entry.
"""

from __future__ import annotations

import contextlib
import threading

import jax.numpy as jnp
from jax.extend.core import get_opaque_trace_state


class _Local(threading.local):
    collector = None  # callable(layer, name, value), or None: values are dropped
    names = None  # {name: layer} added in the running outermost call
    trace = None  # the trace the running outermost call runs in


_local = _Local()


@contextlib.contextmanager
def collecting(collector):
    """Send every add_metric value computed inside to `collector(layer, name, value)`."""
    previous = _local.collector
    _local.collector = collector
    try:
        yield
    finally:
        _local.collector = previous


def new_call():
    """Called as an outermost Layer call starts: its names start afresh."""
    _local.names = None
    _local.trace = get_opaque_trace_state()


def check_aggregation(layer, name, aggregation):
    """Only Keras 2's default aggregation, the value averaged over the epoch, is built."""
    if aggregation != "mean":
        raise NotImplementedError(
            f"{layer.name}.add_metric(name={name!r}, aggregation={aggregation!r}) is not "
            "implemented: only aggregation='mean' (the value averaged over the epoch) is; "
            "for another aggregation, update a keras.metrics.Metric with the value in a "
            "custom train_step and return its result in the logs dict")


def check_name(layer, name):
    """An added metric is logged under its name, which must be a non-empty str."""
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"{layer.name}.add_metric: expected a name (a non-empty str) for the metric, as "
            f"in self.add_metric(tf.reduce_mean(x), name='mean_activation'); received "
            f"name={name!r}")


def add_metric(layer, value, name, aggregation, depth):
    """Check one add_metric call (`depth`: how many Layer calls are running) and hand the
    value to the collector, if any."""
    from xlaflow.layers import symbolic

    check_aggregation(layer, name, aggregation)
    if symbolic.has_symbolic(value):
        raise NotImplementedError(
            f"{layer.name}.add_metric of a symbolic (functional API) tensor is not "
            "implemented for a layer: call self.add_metric(value, name=...) from the call() "
            "of a layer placed in the model, or add it to the functional model's own "
            "add_metric")
    check_name(layer, name)
    if depth == 0:
        raise ValueError(
            f"{layer.name}.add_metric(name={name!r}): expected a tensor computed inside "
            f"call(), received {value!r} outside any call; add the metric from the call() "
            "of a layer in the model")
    if _local.collector is not None and get_opaque_trace_state() != _local.trace:
        # a value traced inside a loop body, branch or vmap of call() cannot leave that
        # trace through the collector (JAX's UnexpectedTracerError)
        raise NotImplementedError(
            f"{layer.name}.add_metric(name={name!r}) inside a tensor loop, a tensor if or a "
            "JAX transformation (lax.scan, while_loop, cond, vmap) within call() is not "
            "implemented: return the value from the loop or branch and call add_metric on "
            "it afterwards, in call() itself")
    value = jnp.asarray(value)
    if not (jnp.issubdtype(value.dtype, jnp.number) or value.dtype == jnp.bool_):
        raise TypeError(f"{layer.name}.add_metric(name={name!r}): expected a numeric "
                        f"tensor, received dtype {value.dtype}")
    names = _local.names
    if names is None:
        names = _local.names = {}
    if name in names:
        raise ValueError(
            f"{layer.name}.add_metric: the metric {name!r} was already added in this call "
            f"of the model (by {names[name].name}); each add_metric name may be added once "
            "per forward pass: give each value its own name")
    names[name] = layer
    collector = _local.collector
    if collector is not None:
        collector(layer, name, value)
