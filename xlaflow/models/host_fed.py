"""Model's feeding of host layers: leading StringLookup/TextVectorization layers (strings,
which XLA cannot hold) run eagerly on each batch before the compiled steps, as a
Dataset.map would; fit/evaluate/predict, the *_on_batch methods and saving see their output.

A model says what runs on the host with `_host_feed()` (a Sequential: its leading host
layers; a functional model: its host prefix, models/host_prefix.py). Within
`_compiled_part()` the model's `call` takes that output instead of the raw inputs: what is
built, traced, saved and exported is the compiled part, and load_model rebuilds the host
layers from their config (vocabularies included).
"""

from __future__ import annotations

import collections.abc
import contextlib
import functools

import jax
import numpy as np

from xlaflow.layers import symbolic
from xlaflow.training import data as data_lib
from xlaflow.training import ragged_batches


class HostFed:
    """Mixed into Model: the host layers' run before the compiled part, and the batch
    methods (train_on_batch, test_on_batch, predict_on_batch) that go through it."""

    def __call__(self, inputs, *args, training=None, **kwargs):
        if symbolic.has_symbolic((inputs, args, kwargs)) and self._host_feed() is not None:
            return _inline(self, inputs, args, kwargs, training)
        return super().__call__(inputs, *args, training=training, **kwargs)

    def _host_feed(self):
        """raw inputs -> the compiled part's inputs, or None when nothing runs on the host."""
        host = self.__dict__.get("_host")
        return None if host is None else functools.partial(host.run, self)

    @contextlib.contextmanager
    def _compiled_part(self):
        """Within: `call` takes the host layers' output (the compiled part's inputs)."""
        before = self.__dict__.get("_host_layers_ran", False)
        self.__dict__["_host_layers_ran"] = self._host_feed() is not None
        try:
            yield
        finally:
            self.__dict__["_host_layers_ran"] = before

    def _after_host_layers(self, method, x, *args, **kwargs):
        """`method(self, x, *args, **kwargs)` with x (and validation_data's x) through the
        host layers: arrays at once, a Dataset or generator batch by batch."""
        feed = self._host_feed()
        if feed is None:
            return method(self, x, *args, **kwargs)
        validation = data_lib.as_keras_tuple(kwargs.get("validation_data"))
        if isinstance(validation, tuple):
            kwargs["validation_data"] = (feed(validation[0]), *validation[1:])
        elif validation is not None:
            kwargs["validation_data"] = host_batches(feed, validation, self.name)
        x = feed(x) if _is_array_like(x) else host_batches(feed, x, self.name)
        with self._compiled_part():
            return method(self, x, *args, **kwargs)

    def train_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True,
                       return_dict=False):
        return self._after_host_layers(_train_on_batch, ragged_batches.host_batches(x), y,
                                       sample_weight, reset_metrics, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True,
                      return_dict=False):
        return self._after_host_layers(_test_on_batch, ragged_batches.host_batches(x), y,
                                       sample_weight, reset_metrics, return_dict)

    def predict_on_batch(self, x):
        return self._after_host_layers(_predict_on_batch,
                                       ragged_batches.host_batches(x))

    def save(self, *args, **kwargs):
        with self._compiled_part():
            return super().save(*args, **kwargs)

    def export(self, *args, **kwargs):
        with self._compiled_part():
            return super().export(*args, **kwargs)


def _inline(model, inputs, args, kwargs, training):
    """`model(inputs)` on symbolic tensors, for a model with host layers: its layers called
    in turn on them, so that they join the calling graph (whose host prefix then holds the
    host layers: one node for the whole model could not run half on the host)."""
    if args or kwargs:
        raise TypeError(f"{model.name}: a model with host layers (strings) takes its inputs "
                        f"alone in a functional graph; received {len(args)} more arguments, "
                        f"keywords {sorted(kwargs)}")
    flags = {} if training is None else {"training": training}
    graph = model._graph
    if graph is None:  # a Sequential: its layers in turn, without an InputLayer
        for layer in model.layers:
            inputs = layer(inputs, **flags)
        return inputs
    if graph.sides:
        raise NotImplementedError(
            f"{model.name}: a model with host layers and add_loss/add_metric of its graph "
            "tensors cannot be called inside another model; build one model from the same "
            "Inputs instead")
    symbols, tree = jax.tree_util.tree_flatten(graph.inputs, is_leaf=symbolic.is_symbolic)
    arranged = graph.arrange(inputs)
    try:
        values = [arranged] if len(symbols) == 1 and symbolic.is_symbolic(arranged) else \
            tree.flatten_up_to(arranged)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{model.name} takes inputs structured as its Inputs "
                         f"{[s.name for s in symbols]}; received {inputs!r:.200}: "
                         f"{exc}") from None
    env = {}
    for symbol, value in zip(symbols, values):
        if not symbolic.is_symbolic(value) or \
                symbolic.is_text(value) != symbolic.is_text(symbol):
            raise TypeError(f"{model.name}: its Input {symbol!r} received {value!r}; in a "
                            "functional graph each Input takes a symbolic tensor of its "
                            "kind (strings for a string Input)")
        env[id(symbol)] = value

    def mapped(t):
        return env[id(t)] if symbolic.is_symbolic(t) else t

    for node in graph.nodes:
        node_inputs, node_args, node_kwargs = jax.tree_util.tree_map(
            mapped, (node.inputs, node.args, node.kwargs), is_leaf=symbolic.is_symbolic)
        out = node.layer(node_inputs, *node_args, **{**flags, **node_kwargs})
        for s, v in zip(jax.tree_util.tree_leaves(node.outputs, is_leaf=symbolic.is_symbolic),
                        jax.tree_util.tree_leaves(out, is_leaf=symbolic.is_symbolic)):
            env[id(s)] = v
    return jax.tree_util.tree_map(lambda s: env[id(s)], graph.outputs,
                                  is_leaf=symbolic.is_symbolic)


def _train_on_batch(model, x, y, sample_weight, reset_metrics, return_dict):
    trainer = model._require_compiled("train_on_batch")
    x, y, sample_weight = data_lib.ArrayBatches(x, y, sample_weight, batch_size=len(
        jax.tree_util.tree_leaves(x)[0])).first_batch()
    model._prepare(x)
    trainer.check_labels(y)
    if reset_metrics:
        model.reset_metrics()
    return _result(trainer.train_step(x, y, sample_weight), return_dict)


def _test_on_batch(model, x, y, sample_weight, reset_metrics, return_dict):
    trainer = model._require_compiled("test_on_batch")
    model._prepare(x)
    if reset_metrics:
        model.reset_metrics()
    return _result(trainer.test_step(x, y, sample_weight), return_dict)


def _predict_on_batch(model, x):
    model._prepare(x)
    out = model._predict_function()(x)
    rows = ragged_batches.concatenate([out])  # outputs that keep ragged rows
    return rows if rows is not None else jax.tree_util.tree_map(np.asarray, out)


def _result(logs, return_dict):
    logs = {k: float(v) for k, v in logs.items()}
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _is_array_like(x):
    return isinstance(x, (str, bytes, list, tuple, dict)) or hasattr(x, "shape")


def host_batches(feed, data, who):
    """A Dataset or iterable of batches with each batch's x through `feed`."""
    def element(*parts):
        return (feed(parts[0]), *parts[1:]) if len(parts) > 1 else feed(parts[0])
    if data_lib.is_dataset(data):
        return data.map(element)
    if not isinstance(data, collections.abc.Iterator):  # a Sequence is indexed per epoch
        raise NotImplementedError(
            f"{who}, a model with leading host-side layers (StringLookup, TextVectorization), takes "
            f"arrays, an xf.data.Dataset or a generator; received {type(data).__name__}: "
            "map the layers over a Dataset (ds.map(lambda x, y: (layer(x), y))) and feed "
            "a model of the rest")
    return (element(*b) if isinstance(b, tuple) else element(b) for b in data)
