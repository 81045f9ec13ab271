"""Layer: a Module with lazy `build(input_shape)`, `call(inputs)` and Keras-style weights.

Weights are xf.Variables created by `add_weight`, so a layer works eagerly, inside
xf.function, under `xf.value_and_grad` and inside `fit` with one mechanism: the lifting
context decides what a weight read means. The dtype policy's casts of a call's inputs are
input_casting.py.
"""

from __future__ import annotations

import collections
import functools
import inspect
import re
import weakref

import jax
import jax.numpy as jnp

from xlaflow import _lifting, mixed_precision
from xlaflow import constraints as constraints_lib
from xlaflow import initializers as initializers_lib
from xlaflow import regularizers as regularizers_lib
from xlaflow.layers import (
    activity,
    added_metrics,
    attribute_tracking,
    input_casting,
    keras_mask,
    ragged_calls,
    symbolic,
    training_mode,
    weight_order,
)
from xlaflow.layers.layer_config import InitArgs, LayerConfig
from xlaflow.layers.layer_nodes import NodeAccessors
from xlaflow.layers.layer_weights import weight_argument
from xlaflow.module import Module, walk_in_attribute_order
from xlaflow.ragged_tensor import RaggedTensor
from xlaflow.variables import Variable

_name_counts = collections.Counter()

# {layer: callable(layer, inputs, args, kwargs)} run once, at the first call of an unbuilt
# layer: a checkpoint's values waiting for the variables that call creates (TF's delayed
# restoration, saving/checkpoint_deferred.py). Weak keys: waiting never keeps a layer alive.
first_call_hooks = weakref.WeakKeyDictionary()


def unique_name(base, zero_based=True):
    """'dense', then 'dense_1', 'dense_2', ... (Keras naming); reset by clear_session.
    zero_based=False numbers the first one too: 'input_1', 'input_2' (Keras 2's Inputs)."""
    if not zero_based:
        _name_counts[base] += 1
        return f"{base}_{_name_counts[base]}"
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def clear_session():
    """Forget layer-name counters (Keras' clear_session)."""
    _name_counts.clear()


def _snake_case(name):
    """Keras' to_snake_case: 'Conv2DTranspose' -> 'conv2d_transpose', 'SimpleRNN' ->
    'simple_rnn', 'GlobalAveragePooling2D' -> 'global_average_pooling2d'."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


@functools.cache
def _accepts(call, argument):
    try:
        params = inspect.signature(call).parameters
    except (TypeError, ValueError):
        return False
    return argument in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _shapes(inputs):
    """The input's shape tuple, or the structure of shape tuples for several inputs."""
    return jax.tree_util.tree_map(lambda x: tuple(jnp.shape(x)), inputs)


class Layer(NodeAccessors, LayerConfig, Module):
    """Base of all layers: subclass it and define `build(input_shape)` and `call(inputs)`.

    Args:
      trainable: whether the layer's weights are updated by training.
      name: unique by default ('dense', 'dense_1', ...).
      dtype: the dtype of weights and computation (default float32).
      input_shape: shape of one example (without the batch), for the first layer of a
        Sequential model.
      activity_regularizer: a regularizer of the layer's outputs: its penalty, divided by
        the batch size, joins `losses` (Keras 2).
    """

    # Keras' regularizer and constraint arguments of this layer's weights
    # ('kernel_regularizer', 'kernel_constraint', ...): add_weight gives each weight its
    # own, and get_config lists them all (None where not given), as Keras does.
    _penalty_arguments = ()
    # How the layer takes a RaggedTensor (layers/ragged_calls.py): "values" (Activation,
    # Dropout, Embedding) or "last axis" (Dense) on its flat_values, "masked" (RNNs, global
    # pooling) on its padded rows and their mask; None: call() gets it as it is
    _per_value = None

    # Attributes whose Variables are the layer's state, not weights (a stateful RNN's
    # states, as Keras 2 exempts them from tracking).
    _untracked_attributes = frozenset()

    # Keras 2 lists a Layer's own weights before its sublayers', a Model's after them
    # (base_layer.py vs training.py): Model sets this (layers/weight_order.py).
    _children_weights_first = False

    def __new__(cls, *args, **kwargs):
        # The constructor arguments, for get_config of subclasses that define none.
        layer = super().__new__(cls)
        layer._xf_init_args = InitArgs(args, kwargs)
        return layer

    def __setattr__(self, name, value):
        """Keras 2 tracks an xf.Variable assigned to a layer's attribute (directly or nested in
        lists, tuples and dicts) as one of its weights (layers/attribute_tracking.py)."""
        old = self.__dict__.get(name)
        super().__setattr__(name, value)
        if name not in self._untracked_attributes and "_own_weights" in self.__dict__:
            attribute_tracking.assigned(self, old, value)

    def __delattr__(self, name):
        """Keras 2's Layer.__delattr__: `del layer.w` drops the Variable from the weights."""
        old = self.__dict__.get(name)
        super().__delattr__(name)
        if name not in self._untracked_attributes and "_own_weights" in self.__dict__:
            attribute_tracking.assigned(self, old, None)

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None, **kwargs):
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        # Keras 2's base Layer aliases input_dim=n to input_shape=(n,) (Dense(1, input_dim=784))
        input_dim = kwargs.pop("input_dim", None)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        # Keras' base Layer takes activity_regularizer for every layer. Weight regularizers
        # and constraints are kept for add_weight.
        self._regularizers, self._constraints = {}, {}
        self.activity_regularizer = regularizers_lib.get(kwargs.pop("activity_regularizer",
                                                                    None))
        self._activity_losses = []  # (trace, penalty) of the last call (layers/activity.py)
        for argument in self._penalty_arguments:
            value = kwargs.pop(argument, None)
            if argument.endswith("_constraint"):
                try:
                    self._constraints[argument] = constraints_lib.get(value)
                except ValueError as exc:
                    raise ValueError(f"{type(self).__name__}: {argument}: {exc}") from None
            elif argument != "activity_regularizer":
                self._regularizers[argument] = regularizers_lib.get(value)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword arguments "
                            f"{sorted(kwargs)}")
        super().__init__(name=name if name is not None else unique_name(
            _snake_case(type(self).__name__)))
        self._trainable = bool(trainable)
        self._dtype_policy = mixed_precision.policy_for(dtype)
        self.dtype = self._dtype_policy.variable_dtype
        self.built = False
        self._own_weights = []
        self._penalties = []  # (weight, regularizer): Keras' regularization losses
        if input_shape is not None:
            batch_input_shape = (None, *tuple(input_shape))
        self._batch_input_shape = None if batch_input_shape is None else tuple(
            batch_input_shape)

    # -- weights ---------------------------------------------------------------------------
    def add_weight(self, name=None, shape=(), dtype=None, initializer="glorot_uniform",
                   trainable=True, regularizer=None, constraint=None):
        """Create a weight (an xf.Variable named '<layer>/<name>') initialized now. Its
        regularizer (given, or the layer's `<name>_regularizer`) joins `losses`; its
        constraint (given, or `<name>_constraint`) is `weight.constraint`, which the
        optimizer applies after each update."""
        regularizer = regularizers_lib.get(regularizer) if regularizer is not None else \
            self._regularizers.get(weight_argument(name, "regularizer"))
        constraint = constraints_lib.get(constraint) if constraint is not None else \
            self._constraints.get(weight_argument(name, "constraint"))
        if initializer is None and not jnp.issubdtype(jnp.dtype(dtype or self.dtype),
                                                      jnp.floating):
            initializer = "zeros"  # Keras 2's default for an integer or bool weight
        init = initializers_lib.get(initializer)  # None: glorot_uniform, as Keras 2
        with jax.ensure_compile_time_eval():
            key = initializers_lib.default_key(init)
            value = init(tuple(shape), jnp.dtype(dtype or self.dtype), key)
        weight = Variable(value, trainable=trainable, name=f"{self.name}/{name or 'weight'}",
                          constraint=constraint)
        self._own_weights.append(weight)
        if regularizer is not None:
            self._penalties.append((weight, regularizer))
        return weight

    def add_variable(self, *args, **kwargs):
        """Keras 2's deprecated alias of add_weight, same arguments (the serialization
        guide's ContrivedModel creates its kernel and bias with it)."""
        return self.add_weight(*args, **kwargs)

    @property
    def trainable(self):
        return self._trainable

    @property
    def dtype_policy(self):
        return self._dtype_policy

    @property
    def compute_dtype(self):
        return self._dtype_policy.compute_dtype

    @trainable.setter
    def trainable(self, value):
        """Freeze or unfreeze this layer and every layer inside it, as Keras does."""
        self._trainable = bool(value)
        for layer in self.submodules:
            if isinstance(layer, Layer):
                layer._trainable = bool(value)

    def _found(self, kind):
        # Keras order: depth first in creation order (weights, get_weights, summary)
        found = {}
        walk_in_attribute_order(self, found, {id(self)}, kind)
        return found

    @property
    def trainable_weights(self):
        """Keras 2's: [] when this layer is frozen; else its and its sublayers' trainable
        weights, each sublayer's as it lists them (layers/weight_order.py)."""
        return weight_order.trainable_weights(self)

    @property
    def non_trainable_weights(self):
        return weight_order.non_trainable_weights(self)

    @property
    def weights(self):
        """Keras 2's Layer.weights: trainable_weights + non_trainable_weights, so a layer
        holding Dense and BatchNormalization lists both kernels before the moving statistics
        and freezing a sublayer moves its weights back (a Model goes layer by layer)."""
        return weight_order.dedup(self.trainable_weights + self.non_trainable_weights)

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [v for v in self.variables if id(v) not in trainable]

    @property
    def metrics(self):
        """Keras 2's Layer.metrics: the Metric objects the layer and its sublayers hold as
        attributes (directly or nested in lists and dicts), each once, in attribute order."""
        return attribute_tracking.metrics(self, [self, *self.submodules])

    @property
    def losses(self):
        """Keras' regularization losses of the layer and its sublayers: each regularized
        weight's penalty on its current value and each add_loss callable's value, then the
        activity penalties and add_loss tensors of the last forward pass (float32 scalars; fit adds their sum to the loss, and a custom
        train_step passes `regularization_losses=self.losses`)."""
        seen, found = set(), []
        layers = (self, *self.submodules)
        for layer in layers:
            for weight, regularizer in getattr(layer, "_penalties", ()):
                if id(weight) not in seen:
                    seen.add(id(weight))
                    found.append(jnp.asarray(regularizer(weight.value), jnp.float32))
            for loss in layer.__dict__.get("_callable_losses", ()):
                found.append(jnp.asarray(loss(), jnp.float32))
        for layer in layers:
            if isinstance(layer, Layer):
                found.extend(activity.current_losses(layer))
        return found

    def add_loss(self, losses):
        """Add a loss tensor computed in `call` (this forward pass's) or a zero-argument
        callable (read each time) to `losses`, as Keras 2 (layers/activity.py)."""
        activity.add_loss(self, losses)

    def add_metric(self, value, name=None, aggregation="mean"):
        """Keras 2's `add_metric` inside `call`: fit and evaluate average `value` over the
        epoch into the logs as `name` (layers/added_metrics.py); elsewhere it is dropped."""
        added_metrics.add_metric(self, value, name, aggregation, activity.call_depth())

    def get_weights(self):
        """The weights' values as NumPy arrays."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        """Assign NumPy/jax arrays to the weights, in `weights` order; checks first."""
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"{self.name}.set_weights: expected {len(own)} arrays, received "
                             f"{len(weights)}")
        for w, value in zip(own, weights):
            if tuple(jnp.shape(value)) != w.shape:
                raise ValueError(f"{self.name}.set_weights: weight {w.name!r} has shape "
                                 f"{w.shape}, received {tuple(jnp.shape(value))}")
        for w, value in zip(own, weights):
            w.assign(jnp.asarray(value, w.dtype))

    def count_params(self):
        return sum(int(w.size) for w in self.weights)

    # -- building and calling ----------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (called once, on first use)."""
        self.built = True

    def _build_on_call(self, input_shape):
        self.build(input_shape)

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define call(self, inputs)")

    def __call__(self, *args, training=None, **kwargs):
        inputs, args, kwargs = training_mode.split_first_input(self, args, kwargs)
        args, kwargs, training = training_mode.take_positional(type(self).call, args, kwargs,
                                                               training)
        if symbolic.has_symbolic(inputs):  # the functional API: record, do not compute
            return symbolic.symbolic_call(self, inputs, args, kwargs, training)
        if self._per_value is not None and type(inputs) is RaggedTensor:
            # Keras 2's built-in layers on ragged rows (a user's own call takes them as is)
            return ragged_calls.call(self, inputs, args, training, kwargs)
        if not self.built and first_call_hooks:
            hook = first_call_hooks.pop(self, None)  # one caller takes it (threads race)
            if hook is not None:
                hook(self, inputs, args, {**kwargs, "training": training})
        training = training_mode.resolve(type(self).call, training)
        token = training_mode.enter(training)
        try:
            with activity.CallScope(self):  # the outermost call clears the activity losses
                outputs = self._call_on_values(inputs, *args, training=training, **kwargs)
        finally:
            training_mode.leave(token)
        if self.activity_regularizer is not None:
            activity.record(self, outputs)
        return outputs

    def _call_on_values(self, inputs, *args, training=None, **kwargs):
        if not self.built:
            self._check_input_shape(inputs)
            self._build_on_call(_shapes(inputs))
            self.built = True
        call = self._traced_call(inputs)
        if _accepts(type(self).call, "training"):
            kwargs["training"] = training
        # Keras 2's masks: read before a cast makes new arrays, attached to the outputs
        mask = keras_mask.input_mask(self, inputs, args, kwargs)
        outputs = input_casting.call_under_policy(self._dtype_policy, call, inputs, args,
                                                  kwargs)
        keras_mask.attach_output_masks(self, inputs, outputs, mask)
        return outputs

    def _traced_call(self, inputs):
        """`call`, converted by AutoGraph when a user-defined call runs on traced values:
        traced inputs, inside an xf.function trace (constant inputs, lifted weights), or
        weights a GradientTape traces while running eagerly."""
        if not (any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(inputs))
                or _lifting.current() is not None
                or any(isinstance(w.value, jax.core.Tracer) for w in self._own_weights)):
            return self.call
        from xlaflow.autograph import api
        from xlaflow.config import flags
        return api.convert(self.call) if flags.autograph else self.call

    def _check_input_shape(self, inputs):
        if self._batch_input_shape is None:
            return
        shape = tuple(jnp.shape(inputs))
        want = self._batch_input_shape
        if len(shape) != len(want) or any(w is not None and w != s
                                          for w, s in zip(want, shape)):
            raise ValueError(f"Input to {self.name!r} has shape {shape}, but the layer was "
                             f"declared with input shape {want} (None is the batch)")

    # -- masks (Keras 2; see keras_mask.py) -------------------------------------------------
    supports_masking = False  # True: the input mask goes on to the outputs; else dropped

    def compute_mask(self, inputs, mask=None):
        """The outputs' mask for `inputs` with `mask` (None: no mask), as Keras 2."""
        return keras_mask.default_compute_mask(self, mask)

    def compute_output_shape(self, input_shape):
        """Output shape for `input_shape` (None dims allowed), found by tracing `call`."""
        shapes, tree = jax.tree_util.tree_flatten(
            input_shape, is_leaf=lambda s: isinstance(s, tuple))
        out = symbolic.infer_shapes(
            self, lambda *xs: self(tree.unflatten(list(xs))),
            [(tuple(shape), self.dtype) for shape in shapes])
        batch_unknown = bool(shapes) and shapes[0][0] is None
        return jax.tree_util.tree_map(
            lambda o: (None, *o[0][1:]) if batch_unknown else o[0], out,
            is_leaf=symbolic.is_shape_dtype)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
