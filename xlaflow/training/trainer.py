"""The compiled steps behind compile/fit/evaluate/predict and the loops that drive them.

A training step is Python over Variables — forward pass, `xf.value_and_grad` over the
trainable weights, optimizer update, metric updates — compiled by xf.function into one XLA
computation. With `steps_per_execution=N` the same body runs inside a tensor `for` loop over
N stacked batches, which AutoGraph's operator lowers to one `lax.scan`. Logs stay on the
device; the progress bar and epoch-end callbacks read them when they need them.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import losses as losses_lib
from xlaflow import metrics as metrics_lib
from xlaflow import mixed_precision
from xlaflow import optimizers as optimizers_lib
from xlaflow.autograph.operators import iterables, loops
from xlaflow.function import function
from xlaflow.layers import keras_mask
from xlaflow.loss_scale import LossScaleOptimizer
from xlaflow.tape import value_and_grad
from xlaflow.training import added_metrics, output_masks, output_metrics, per_output
from xlaflow.training.progress import host_value


class Trainer:
    """What `Model.compile` sets up: loss, optimizer, metrics and the compiled steps."""

    def __init__(self, model, optimizer, loss, metrics, steps_per_execution, run_eagerly,
                 jit_compile, loss_weights=None, weighted_metrics=None):
        self.model = model
        self.optimizer = optimizers_lib.get(optimizer)
        policy = getattr(model, "dtype_policy", None) or mixed_precision.global_policy()
        if policy.compute_dtype == jnp.float16 and \
                not isinstance(self.optimizer, LossScaleOptimizer):
            # float16 gradients underflow without it (Keras wraps the optimizer the same way)
            self.optimizer = LossScaleOptimizer(self.optimizer)
        from xlaflow.distribute import strategy as strategy_lib
        # TF trains with the strategy the model was created or compiled under.
        created_with = getattr(model, "_distribute_strategy", None)
        self.strategy = strategy_lib.current() or created_with
        if created_with is not None and self.strategy is not created_with:
            raise ValueError(
                f"{model.name} was created under {created_with!r} and is compiled under "
                f"{self.strategy!r}: a model trains with the strategy it was created "
                "under; compile it inside that strategy's scope (or outside any)")
        self.loss = _losses(loss)
        self.loss_weights = loss_weights
        self.loss_tracker = metrics_lib.Mean(name="loss")
        self.added = added_metrics.AddedMetrics(model)  # those the model adds in call
        self._metric_args = (metrics, weighted_metrics)
        self._units = None  # (input shape, layers, output units): see _output_units
        # A subclassed model's outputs are unknown until it runs (Keras 2 builds its loss
        # and metric containers from the first step's y_pred): settle_outputs finds them.
        self._outputs_known = getattr(model, "_graph", None) is not None or isinstance(
            self.loss, (list, tuple, dict))
        self._per_output(_output_names(model, self.loss))
        if int(steps_per_execution) < 1:
            raise ValueError(f"steps_per_execution must be >= 1; received "
                             f"{steps_per_execution!r}")
        self.steps_per_execution = int(steps_per_execution)
        self.block_strategy = _block_strategy(model)
        compile_fn = (lambda f: f) if run_eagerly or jit_compile is False else functools.partial(
            _quiet_function, donate_variables=True)
        # Kept: fit with its arrays on the device compiles, with it, a step that gathers
        # its batch and calls the compiled steps below inlined (training/device_arrays.py).
        self.compile_fn = compile_fn
        self.gathering_starts = {}  # (examples, batch size): its batches' first rows
        self._make_steps()

    def _make_steps(self):
        """The compiled train, block and test steps. Made again when the model is found
        to add new metrics: the logs a step returns are fixed when it is traced."""
        compile_fn, model = self.compile_fn, self.model
        # Gathering steps (device_arrays.py), kept across fit calls so that each compiles
        # once; emptied here, as those calling the old steps would log the old names.
        self.gathering_steps = {}
        self.custom_train_step = _overrides(model, "train_step")
        if self.custom_train_step:
            from xlaflow.autograph import api
            user_step = api.convert(model.train_step)  # its `with tape:` needs AutoGraph
            self._compiled_train_step = compile_fn(self._collecting(
                lambda x, y=None, sample_weight=None: user_step(_pack(x, y, sample_weight))))
        else:
            self._compiled_train_step = compile_fn(self._collecting(self._train_step))
        self._compiled_train_block = compile_fn(self._collecting(self._train_block))
        if _overrides(model, "test_step"):
            from xlaflow.autograph import api
            user_test = api.convert(model.test_step)
            self._compiled_test_step = compile_fn(self._collecting(
                lambda x, y=None, sample_weight=None: user_test(_pack(x, y, sample_weight))))
        else:
            self._compiled_test_step = compile_fn(self._collecting(self._test_step))

    def _collecting(self, step):
        """`step` with the model's add_metric values averaged into their Means."""
        @functools.wraps(step)
        def run(*args, **kwargs):
            with self.added.collecting():
                return step(*args, **kwargs)
        return run

    def settle_added_metrics(self, x):
        """Find the metrics the model adds in `call` for inputs like `x` (Keras 2's
        add_metric), before a step runs: each is logged after the compiled metrics."""
        taken = {"loss", *(m.name for m in self.output_losses.values()),
                 *(m.name for m in self.metrics)}
        if self.added.settle(x, _layer_tree(self.model), taken):
            self._set_trackers()
            self._make_steps()

    def _set_trackers(self):
        # The loss, each output's loss (several outputs), the compiled metrics and the
        # added ones, in log order: fixed here, read at every step that logs.
        self.trackers = (self.loss_tracker, *self.output_losses.values(), *self.metrics,
                         *self.added.means.values())
        self._log_names = tuple(m.name for m in self.trackers)

    def _per_output(self, names):
        """The per-output loss trackers and metrics for outputs `names`, and the log order.
        Structures are checked here, before any step: a dict naming no output is a typo."""
        several = len(names) > 1
        losses = per_output.conform(self.loss, names, "loss") if several else []
        if several:
            per_output.conform(self.loss_weights, names, "loss_weights")
        elif self._outputs_known:
            self._one_output(names)
        self.output_names = names
        # As Keras, a model with several outputs also logs each output's own
        # (unweighted) loss: '<output>_loss' (an output without a loss has none).
        self.output_losses = {n: metrics_lib.Mean(name=f"{n}_loss") for n, fn in zip(
            names, losses) if fn is not None} if self.loss is not None else {}
        self.compiled = output_metrics.OutputMetrics(
            names, *self._metric_args, self.loss,
            taken={"loss", *(m.name for m in self.output_losses.values())})
        self.metrics = self.compiled.metrics
        self._set_trackers()

    def _one_output(self, names):
        """A one-output model's loss and loss weight: a one-entry list, or a dict keyed by
        the output's name, is that entry (Keras 2's map_to_output_names and the flattened
        list its LossesContainer zips with the outputs); other keys or lengths are refused."""
        if isinstance(self.loss, (list, tuple, dict)):
            self.loss = per_output.conform(self.loss, names, "loss")[0]
        if isinstance(self.loss_weights, (list, tuple, dict)):
            self.loss_weights = per_output.conform(self.loss_weights, names,
                                                   "loss_weights")[0]

    def settle_outputs(self, x, out=None):
        """Name a subclassed model's outputs from what it returns (`out`, else its output
        shapes for inputs like `x`) as Keras 2 does ('output_1', ... or a dict's sorted
        keys), once, before the first step: one compiled loss then applies to each output
        and is logged per output as '<output>_loss'."""
        if self._outputs_known:
            return
        if out is None:
            from xlaflow import _lifting
            from xlaflow.models.shapes import abstract_inputs
            out = _lifting.eval_shape(lambda inputs: self.model(inputs, training=False),
                                      abstract_inputs(x))
        if isinstance(out, dict):
            names = sorted(out)  # as tf.nest flattens a dict
        elif isinstance(out, (list, tuple)) and len(out) > 1:
            names = per_output.pseudo_names(len(out))
        else:
            names = self.output_names  # one output: nothing to split
        self._outputs_known = True
        if names != self.output_names:
            self._per_output(names)
        elif len(names) == 1:
            self._one_output(names)

    # Compiled steps return the metric results as a tuple (a dict would come back from jit
    # with sorted keys); these wrappers name them in Keras' order, loss first.
    # Arguments that are None are left out, so that a call with arrays only takes
    # xf.function's fast path.
    def train_step(self, x, y, sample_weight):
        return self.named(self.raw_train_step(x, y, sample_weight))

    def raw_train_step(self, x, y, sample_weight):
        """The step's results as the compiled function returns them (see `named`)."""
        return self._compiled_train_step(*self._distribute(_given(x, y, sample_weight)))

    def raw_train_block(self, xs, ys, sample_weights):
        # a block stacks steps on axis 0: the batch axis to shard is axis 1
        return self._compiled_train_block(*self._distribute(
            _given(xs, ys, sample_weights), axis=1))

    def test_step(self, x, y, sample_weight):
        return self.named(self._compiled_test_step(*self._distribute(
            _given(x, y, sample_weight))))

    def _distribute(self, args, axis=0):
        """Under a distribution strategy, each global batch sharded over its devices."""
        if self.strategy is None:
            return args
        return self.strategy.distribute_batch(args, axis)

    def named(self, values):
        """Logs in Keras' order; a custom train_step's dict is already named."""
        if isinstance(values, dict):
            return values
        return dict(zip(self._log_names, values))

    # -- the compiled bodies ---------------------------------------------------------------
    def _loss(self, y, y_pred, sample_weight):
        return self._loss_parts(y, y_pred, sample_weight)[0]

    def total_loss(self, y, y_pred, sample_weight):
        """(the compiled loss plus the model's regularization losses, the parts), as Keras
        2's train and test steps compute it."""
        loss, parts = self._loss_parts(y, y_pred, sample_weight)
        penalties = self.model.losses
        return (loss + sum(penalties) if penalties else loss), parts

    def _loss_parts(self, y, y_pred, sample_weight):
        """(the compiled loss, {output name: its unweighted loss}), the parts only for a
        model with several outputs (they are logged as '<output>_loss')."""
        if self.loss is None:
            if self.model.losses:  # Keras 2: the add_loss losses alone are the loss
                return jnp.zeros((), jnp.float32), {}
            raise ValueError("compile() was given no loss and the model added none "
                             "(add_loss); pass loss=... to train or evaluate")
        if not isinstance(y_pred, (list, tuple, dict)):
            return _single_weight(self.loss_weights) * self.loss(
                y, y_pred, output_masks.apply_mask(y_pred, sample_weight)), {}
        return per_output.multi_output_loss(
            self.loss, self.loss_weights, y, y_pred, sample_weight,
            per_output.names_of(y_pred, self.output_names))

    def _train_body(self, x, y, sample_weight):
        model = self.model
        weights = model.trainable_variables

        scaled = isinstance(self.optimizer, LossScaleOptimizer)

        def forward():
            y_pred = _float32(model(x, training=True))
            loss, parts = self.total_loss(y, y_pred, sample_weight)
            return (self.optimizer.scale_loss(loss) if scaled else loss), (
                loss, parts, y_pred, output_masks.masks_of(y_pred))

        (_, (loss, parts, y_pred, masks)), grads = value_and_grad(forward, wrt=weights,
                                                                  has_aux=True)()
        y_pred = output_masks.with_masks(y_pred, masks)  # the metrics weigh steps by them
        self.optimizer.apply(grads, weights)  # a LossScaleOptimizer unscales, may skip
        self._update_metrics(loss, y, y_pred, sample_weight, parts)

    def _update_metrics(self, loss, y, y_pred, sample_weight, parts):
        self.track_loss(loss, y_pred, parts)
        self.update_compiled_metrics(y, y_pred, sample_weight)

    def track_loss(self, loss, y_pred, parts):
        """Average `loss` (and each output's, `parts`) into the loss metrics."""
        batch = jnp.float32(jax.tree_util.tree_leaves(y_pred)[0].shape[0])
        # Weighting each batch's mean loss by its size makes the epoch value the mean over
        # examples, however the last batch is cut.
        self.loss_tracker.update_state(loss, sample_weight=batch)
        for key, value in parts.items():
            if key in self.output_losses:
                self.output_losses[key].update_state(value, sample_weight=batch)

    def update_compiled_metrics(self, y, y_pred, sample_weight):
        self.compiled.update(y, y_pred, sample_weight)

    def logs(self):
        return tuple(m.result() for m in self.trackers)

    def _train_step(self, x, y=None, sample_weight=None):
        self._train_body(x, y, sample_weight)
        return self.logs()

    def _train_block(self, xs, ys=None, sample_weights=None):
        parts = [p for p in (xs, ys, sample_weights) if p is not None]
        has_y, has_w = ys is not None, sample_weights is not None

        def body(item):
            item = list(item)
            x = item.pop(0)
            y = item.pop(0) if has_y else None
            w = item.pop(0) if has_w else None
            self._train_body(x, y, w)

        loops.for_stmt(iterables.TensorZip(parts), None, body, lambda: (), lambda state: None,
                       (), 0)
        return self.logs()

    def _test_body(self, x, y, sample_weight):
        y_pred = _float32(self.model(x, training=False))
        loss, parts = self.total_loss(y, y_pred, sample_weight)
        self._update_metrics(loss, y, y_pred, sample_weight, parts)

    def _test_step(self, x, y=None, sample_weight=None):
        self._test_body(x, y, sample_weight)
        return self.logs()

    # -- input checks (before any weight changes) ----------------------------------------
    def check_labels(self, y):
        """Sparse categorical labels must index the model's outputs."""
        if not isinstance(self.loss, losses_lib.SparseCategoricalCrossentropy) or y is None \
                or not isinstance(y, np.ndarray) or y.size == 0:
            return
        units = self._output_units()
        low, high = float(np.min(y)), float(np.max(y))
        if low < 0 or high >= units or not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(
                f"sparse_categorical_crossentropy needs integer labels in [0, {units}) for a "
                f"model with {units} outputs; received labels in [{low:g}, {high:g}]")

    def _output_units(self):
        """The model's output units, traced once per input shape and set of layers (nested
        models' included): the trace (jax.eval_shape of the whole model, ~3 ms for an MLP)
        would otherwise run at every fit, evaluate and train_on_batch call."""
        shape, layers = repr(self.model._build_input_shape), _layer_tree(self.model)
        cached = self._units
        if cached is None or cached[:2] != (shape, layers):  # layers compare by identity
            self._units = cached = (shape, layers, self.model.output_units())
        return cached[2]


def _layer_tree(model):
    """The model's layers and, depth first, those of the models nested in it: a sub-model
    given a new head (pop, add) leaves the top-level layers as they were."""
    found = []
    stack = list(reversed(model.layers))
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(reversed(getattr(layer, "layers", None) or ()))
    return tuple(found)


def _losses(loss):
    """A Loss, or a list/dict of them (one per output)."""
    if loss is None:
        return None
    # a None entry: that output trains on no loss (Keras 2's loss=[None, "mse"])
    if isinstance(loss, (list, tuple)):
        return [None if item is None else losses_lib.get(item) for item in loss]
    if isinstance(loss, dict):
        return {key: None if item is None else losses_lib.get(item)
                for key, item in loss.items()}
    return losses_lib.get(loss)


def _single_weight(weights):
    """A one-output model's loss weight: a number, or the one entry of a list or dict."""
    if weights is None:
        return 1.0
    if isinstance(weights, dict):
        weights = list(weights.values())
    if isinstance(weights, (list, tuple)):
        if len(weights) != 1:
            raise ValueError(f"loss_weights has {len(weights)} entries for a model with one "
                             "output")
        return weights[0]
    return weights


def _block_strategy(model):
    """How to run steps_per_execution: one lax.scan over the steps, or one compiled step
    at a time. On XLA:CPU a scan over convolution steps runs ~5x slower than the step loop
    (measured in benchmarks/fit_bench.py), so CPU models with convolutions loop."""
    from xlaflow.layers.conv import _Conv
    has_conv = any(isinstance(m, _Conv) for m in (model, *model.submodules))
    return "loop" if has_conv and jax.default_backend() == "cpu" else "scan"


def _output_names(model, loss):
    """The names of the model's outputs at compile time: a functional model's output
    layers; for another model, as many of Keras 2's 'output_1', ... as a list of losses
    has entries (a dict of losses: its sorted keys), else the model's one output."""
    if getattr(model, "_graph", None) is not None:
        return list(model.output_names)
    if isinstance(loss, dict):
        return sorted(loss)
    if isinstance(loss, (list, tuple)):
        return per_output.pseudo_names(len(loss))
    return [model.name]


def _overrides(model, method):
    from xlaflow.models.model import Model
    return getattr(type(model), method) is not getattr(Model, method)


def _pack(x, y, sample_weight):
    """Keras' `data` for train_step: x, (x, y) or (x, y, sample_weight)."""
    if y is None and sample_weight is None:
        return x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def _float32(y_pred):
    """Losses and metrics in float32 whatever the model computes in (mixed precision)."""
    return jax.tree_util.tree_map(
        lambda t: keras_mask.keep_mask(t, t.astype(jnp.float32)) if jnp.issubdtype(
            t.dtype, jnp.floating) and t.dtype != jnp.float32 else t, y_pred)


def _given(*args):
    """The arguments up to the last one that is not None."""
    args = list(args)
    while args and args[-1] is None:
        args.pop()
    return args


def host_logs(logs):
    """Epoch-end logs as Python floats, or NumPy arrays for per-class metrics (one
    device-to-host copy per epoch)."""
    values = jax.device_get(list(logs.values()))  # a list: a dict would come back sorted
    return {k: host_value(v) for k, v in zip(logs, values)}


def _quiet_function(fn, **kwargs):
    """xf.function without the RetracingWarning: fit's steps trace once per batch shape and
    input structure the user feeds, which no input_signature of theirs could fix; Keras 2's
    steps relax their shapes (reduce_retracing) and only log their retraces."""
    compiled = function(fn, **kwargs)
    compiled._traces.warn = False
    return compiled
