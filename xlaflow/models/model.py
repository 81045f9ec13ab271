"""Model: a Layer you can compile, fit, evaluate and predict with (Keras' training API)."""

from __future__ import annotations

import jax

from xlaflow.function import function
from xlaflow.layers import keras_mask, weight_order
from xlaflow.layers.base import Layer
from xlaflow.layers.symbolic import is_symbolic
from xlaflow.models import host_prefix, shapes
from xlaflow.models.functional import Graph
from xlaflow.models.graph_sides import GraphSides
from xlaflow.models.host_fed import HostFed
from xlaflow.models.model_building import BuildingMethods
from xlaflow.models.model_saving import SavingMethods
from xlaflow.models.ragged_fed import RaggedFed
from xlaflow.training import compiled as compiled_lib
from xlaflow.training import fit_loop
from xlaflow.training.trainer import Trainer


def _unpack(data):
    if isinstance(data, tuple):
        return (*data, None, None)[:3]
    return data, None, None


_UNSET = object()


def _graph_tensors(model, which):
    tensors = getattr(model._graph, which)
    return tensors[0] if isinstance(tensors, list) and len(tensors) == 1 else tensors


def _assigned_or_flat(model, which):
    if f"_set_{which}" in model.__dict__:  # a plain attribute in Keras 2: assignable
        return model.__dict__[f"_set_{which}"]
    return model._flat_tensors(which)


class Model(RaggedFed, HostFed, SavingMethods, GraphSides, BuildingMethods, Layer):
    """Subclass it (define `call`, create layers in `__init__`) or use Sequential."""

    _children_weights_first = True  # Keras 2's Model lists its layers' weights, then its own

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.trainer = None
        self.stop_training = False
        self.history = None
        self._build_input_shape = None
        self._build_input_dtype = None
        self._called_input = None  # (shapes, dtypes) of the first call, batch None
        self._predict_fn = None
        self._graph = None
        self._host = None  # a functional model's host layers (strings): host_prefix.py
        from xlaflow.distribute import strategy as strategy_lib
        self._distribute_strategy = strategy_lib.current()
        if outputs is None and inputs is not None and not any(
                is_symbolic(t) for t in jax.tree_util.tree_leaves(inputs, is_leaf=is_symbolic)):
            # TF 2.12 drops a lone argument that is no Keras tensor: TF's text-generation
            # tutorial writes `super().__init__(self)` in its subclassed model
            inputs = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("a functional Model needs both inputs= and outputs=")
            self._graph = Graph(inputs, outputs)
            self._graph_layers = self._graph.layers  # owned: their weights are the model's
            self._host = host_prefix.split(self._graph)
            self._build_input_shape, self._build_input_dtype = self._host.spec() \
                if self._host is not None else (  # built for the compiled part's inputs
                    jax.tree_util.tree_map(lambda t: t.shape, inputs, is_leaf=is_symbolic),
                    jax.tree_util.tree_map(lambda t: t.dtype.name, inputs, is_leaf=is_symbolic))
            self.built = True

    def _callless(self):
        # a subclass with no call() (Keras 2's GAN: only a train_step over its sublayers)
        # is never called, as Keras 2's fit never calls it: its steps build what they use
        return self._graph is None and type(self).call is Model.call

    def call(self, inputs, training=None, mask=None):
        if self._graph is None:
            raise NotImplementedError(
                f"{type(self).__name__} must define call(self, inputs), or be built "
                "functionally: Model(inputs=Input(...), outputs=...)")
        with keras_mask.given(inputs, mask):
            return self._run_graph(inputs, training)

    @property
    def weights(self):
        """Keras 2's Model.weights: layer by layer (each layer's trainable weights before
        its others), then the model's own; freezing a layer does not move its weights."""
        return weight_order.model_weights(self)

    @property
    def layers(self):
        if self._graph is not None:
            return list(self._graph.layers)
        return [m for m in vars(self).values() if isinstance(m, Layer)]

    def get_layer(self, name=None, index=None):
        """The layer called `name`, or at position `index` of `layers` (Keras)."""
        layers = self.layers
        if index is not None:
            if name is not None:
                raise ValueError(f"get_layer: pass name or index, not both; received "
                                 f"name={name!r}, index={index!r}")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range: {self.name} "
                                 f"has {len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Existing layers are: "
                         f"{[layer.name for layer in layers]}")

    # Keras 2: a functional model's Input(s) and output(s), a one-item list as its item;
    # `inputs`/`outputs` flat lists (None for other models, which may assign them)
    input = property(lambda self: _graph_tensors(self, "inputs") if self._graph is not None
                     else Layer.input.fget(self))
    output = property(lambda self: _graph_tensors(self, "outputs") if self._graph is not None
                      else Layer.output.fget(self))
    inputs = property(lambda self: _assigned_or_flat(self, "inputs"),
                      lambda self, value: self.__dict__.__setitem__("_set_inputs", value))
    outputs = property(lambda self: _assigned_or_flat(self, "outputs"),
                       lambda self, value: self.__dict__.__setitem__("_set_outputs", value))

    def _flat_tensors(self, which):
        if self._graph is None:
            return None
        return jax.tree_util.tree_leaves(getattr(self._graph, which), is_leaf=is_symbolic)

    @property
    def input_shape(self):
        return shapes.input_shape(self)

    @property
    def output_shape(self):
        return shapes.output_shape(self)

    @property
    def input_names(self):
        """A functional model's Input names in its inputs' order, as Keras 2 lists them;
        None for a model that has no graph (Keras 2 has none before it is called)."""
        inputs = self._flat_tensors("inputs")
        return None if inputs is None else [t.name for t in inputs]

    @property
    def output_names(self):
        return self._graph.output_names() if self._graph is not None else [self.name]

    # -- compile and train -------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile=True):
        """Choose the optimizer, loss and metrics (names or objects) for fit/evaluate.

        As in Keras, `metrics` ignore sample and class weights; `weighted_metrics` use them."""
        self.trainer = Trainer(self, optimizer, loss, metrics, steps_per_execution,
                               run_eagerly, jit_compile, loss_weights, weighted_metrics)
        self._predict_fn = None  # rebuilt for the strategy compile found
        # On the trainer, not the model: Module.variables walks the model's dicts, and
        # metric objects in here would make their Variables look like the model's.
        self.trainer.compile_config = dict(
            loss=loss, metrics=metrics, loss_weights=loss_weights,
            weighted_metrics=weighted_metrics, run_eagerly=run_eagerly,
            jit_compile=jit_compile, steps_per_execution=steps_per_execution)
        # Keras 2's compile sets model.loss: the loss compiled here replaces one assigned
        self.__dict__.pop("_assigned_loss", None)

    def train_step(self, data):
        """One training step on a batch `data` = x, (x, y) or (x, y, sample_weight); returns
        the metric results. Override it (with an xf.GradientTape) to customize fit."""
        x, y, sample_weight = _unpack(data)
        self._require_compiled("train_step")._train_body(x, y, sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        """One evaluation step on a batch `data` (as train_step); returns the metric
        results. Override it to customize evaluate and fit's validation."""
        x, y, sample_weight = _unpack(data)
        self._require_compiled("test_step")._test_body(x, y, sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def predict_step(self, data):
        """The outputs for one batch `data` (x, or a tuple starting with x). Override it to
        customize predict."""
        x, _, _ = _unpack(data)
        return self(x, training=False)

    @property
    def compiled_loss(self):
        """Keras 2's view of the compiled loss, for a custom train_step."""
        return compiled_lib.CompiledLoss(self._require_compiled("compiled_loss"))

    @property
    def compiled_metrics(self):
        """Keras 2's view of the compiled metrics, for a custom train_step."""
        return compiled_lib.CompiledMetrics(self._require_compiled("compiled_metrics"))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        """The compiled loss of `y_pred` against `y` plus the regularization losses
        (Keras' Model.compute_loss)."""
        return self._require_compiled("compute_loss").total_loss(y, y_pred, sample_weight)[0]

    @property
    def optimizer(self):
        return None if self.trainer is None else self.trainer.optimizer

    @property
    def loss(self):
        """The `loss` given to compile, as given (Keras 2's model.loss); None before."""
        assigned = self.__dict__.get("_assigned_loss", _UNSET)
        if assigned is not _UNSET:
            return assigned
        return None if self.trainer is None else self.trainer.compile_config["loss"]

    @loss.setter
    def loss(self, value):
        # Keras 2's model.loss was a plain attribute: a subclass may assign it
        self.__dict__["_assigned_loss"] = value

    @property
    def metrics(self):
        return [] if self.trainer is None else list(self.trainer.trackers)

    def reset_states(self):
        """Keras 2's: zero the kept states of every stateful recurrent layer inside."""
        for layer in self.submodules:
            if getattr(layer, "stateful", False) is True and hasattr(layer, "_state_variables"):
                layer.reset_states()

    def reset_metrics(self):
        """Reset every metric of `metrics` (a subclass's own trackers included, as Keras
        does at each epoch and evaluate) and the compiled ones."""
        seen = set()
        for metric in [*self.metrics, *([] if self.trainer is None else
                                         self.trainer.trackers)]:
            if id(metric) not in seen:
                seen.add(id(metric))
                metric.reset_state()

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def fit(self, x=None, y=None, **kwargs):
        """Train for `epochs` over `x`/`y` (arrays, dicts of arrays, or an iterable of
        batches); returns a History. Keras 2's `max_queue_size`, `workers` and
        `use_multiprocessing` are checked and accepted; batches come from this process."""
        return self._after_host_layers(fit_loop.fit, x, y, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """Loss and metrics over `x`/`y`: a scalar, a list, or a dict (return_dict=True);
        feeding arguments as `fit`."""
        return self._after_host_layers(fit_loop.evaluate, x, y, **kwargs)

    def predict(self, x, **kwargs):
        """The model's outputs for `x`, batch by batch, as NumPy arrays; feeding
        arguments as `fit`."""
        return self._after_host_layers(fit_loop.predict, x, **kwargs)

    def _require_compiled(self, what):
        if self.trainer is None:
            raise RuntimeError(f"call compile(optimizer=..., loss=...) before {what}()")
        return self.trainer

    def _predict_function(self):
        if self._predict_fn is None:
            if type(self).predict_step is not Model.predict_step:
                from xlaflow.autograph import api
                step = api.convert(self.predict_step)  # a user's step: AutoGraph, as fit's
                compiled = function(lambda x: step(x))
            else:
                compiled = function(lambda x: self(x, training=False))
            strategy = self.trainer.strategy if self.trainer is not None else \
                self._distribute_strategy
            if strategy is None:
                self._predict_fn = compiled
            elif getattr(strategy, "multiprocess", False):  # each process gets its own rows
                self._predict_fn = lambda x: strategy.to_host(
                    compiled(strategy.distribute_batch(x)))
            else:
                self._predict_fn = lambda x: compiled(strategy.distribute_batch(x))
        return self._predict_fn

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print Keras 2.12's table: layer (type), output shape, parameters (and inputs, for
        a functional model that is not a chain), then totals; `show_trainable` adds a Y/N
        column, `expand_nested` the rows of nested models inside '|' frames, `layer_range`
        (two names or regexes) limits the rows. As Keras 2, a model with no weights yet
        (never built nor called) has no summary."""
        if not self.built:
            raise ValueError(
                f"This model ({self.name!r}) has not yet been built. Build the model first by "
                "calling `build()` or by calling the model on a batch of data.")
        from xlaflow.models.summary import summary_lines
        for line in summary_lines(self, line_length, positions, expand_nested,
                                  show_trainable, layer_range):
            (print_fn or print)(line)

    # -- configuration and saving --------------------------------------------------------
    def get_config(self):
        if self._graph is not None:
            from xlaflow.models.functional import graph_config
            return {"name": self.name, "trainable": self.trainable,
                    **graph_config(self._graph)}
        return super().get_config()

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Keras 2's signature: `custom_objects` ({name: class}) resolves the user's layers
        in a functional config, as `custom_object_scope` does around the call."""
        from xlaflow.saving.serialization import custom_object_scope
        with custom_object_scope(custom_objects):
            if "nodes" in config and "layers" in config:  # a functional model
                from xlaflow.models.functional import graph_from_config
                inputs, outputs, sides = graph_from_config(config)
                model = cls(inputs=inputs, outputs=outputs, name=config.get("name"),
                            trainable=config.get("trainable", True))
                model._add_sides(sides)  # model.add_loss/add_metric of graph tensors
                return model
            return super().from_config(config)
