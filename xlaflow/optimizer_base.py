"""The optimizer base class: Keras' `apply_gradients` contract on xlaflow Variables.

Each optimizer (xlaflow/optimizers.py) states Keras' per-variable update rule; this class
does what they share, as Keras 2.11+ does it: skipping None gradients, clipping, the learning
rate (a Variable, or a schedule evaluated at `iterations`), decoupled weight decay applied
before the update, the variable's `constraint` applied right after it, and slot Variables
keyed by the variable they belong to, so a later call may update any subset of the built
variables, in any order. Changing the learning rate (ReduceLROnPlateau,
LearningRateScheduler) assigns a Variable and never retraces a step.
"""

from __future__ import annotations

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from xlaflow.module import Module
from xlaflow.optimizer_subclassing import KerasSubclassAPI
from xlaflow.schedules import deserialize_schedule, serialize_schedule
from xlaflow.variables import Variable

# Keras' optimizer arguments that xlaflow accepts with their default value only (a Keras
# config carries them).
_KERAS_DEFAULTS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                   "jit_compile": True, "is_legacy_optimizer": False}


class _StateInit:
    """`init(values)`: the optimizer state of an unbuilt optimizer as a pytree whose leaves
    are, in order, its future state Variables (saving.checkpoint sizes a restore with it)."""

    def __init__(self, init):
        self.init = init


def _zero_arg(fn):
    """True for a learning rate callable taking no argument (Keras 2 accepts those)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(0)
        return False
    except TypeError:
        pass
    try:
        signature.bind()
        return True
    except TypeError:
        return False


def _laid_out_like(variables, shared, per_slot):
    """The state's leaves on the mesh of a strategy's `variables`: each slot as its variable
    (replicated, or sharded by a LayoutMap), the shared ones replicated. Built inside the
    first traced step, they would otherwise come back from its first call laid out anew and
    make the second call compile the step again."""
    shardings = [getattr(v._value, "sharding", None) for v in variables]
    mesh = next((s.mesh for s in shardings if isinstance(s, NamedSharding)), None)
    if mesh is None:
        return [*shared, *per_slot]
    replicated = NamedSharding(mesh, PartitionSpec())

    def put(leaf, sharding):
        if isinstance(leaf, jax.core.Tracer):  # a slot computed from a traced value
            return leaf
        if sharding.is_fully_addressable:
            return jax.device_put(leaf, sharding)
        host = np.asarray(leaf)  # the same on every process: an initial value
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    n = len(variables)
    slots = []
    for j, leaf in enumerate(per_slot):
        own = shardings[j % n]  # per_slot runs slot by slot, each over all the variables
        fits = isinstance(own, NamedSharding) and own.mesh == mesh and \
            np.shape(leaf) == np.shape(variables[j % n]._value)
        slots.append(put(leaf, own if fits else replicated))
    return [*(put(leaf, replicated) for leaf in shared), *slots]


class Optimizer(KerasSubclassAPI, Module):
    """Base class. A subclass names its per-variable slots in `slot_names` and gives
    `update_step(grad, value, slots, lr, common) -> (new value, new slots)`, Keras' rule for
    one variable; `step_constants(lr, step)` computes what all variables share once per step.
    A user's subclass may instead follow Keras 2.11: `build(var_list)` and
    `update_step(gradient, variable)` (xlaflow/optimizer_subclassing.py).

    Args:
      learning_rate: a float, a schedule `step -> rate` (a LearningRateSchedule, or optax's
        schedules; only a LearningRateSchedule survives get_config), or a zero-argument
        callable returning the rate (Keras 2; in a compiled step it is called when tracing,
        so it should read Variables to change between steps).
      weight_decay: decoupled weight decay: each step first does `w -= lr * wd * w` (Keras).
      clipnorm: clip each gradient to this norm; clipvalue: clip elementwise;
      global_clipnorm: clip all gradients together to this global norm.
      decay (keyword): Keras 2's legacy inverse-time decay, step t at lr / (1 + decay * t).
    """

    slot_names = ()

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        super().__init__(name=name or type(self).__name__.lower())
        self._refuse_legacy_form()
        if "lr" in kwargs:  # Keras 2's deprecated alias
            learning_rate = kwargs.pop("lr")
        # Keras 2's OptimizerV2 `decay` (TF <= 2.10, optimizers.legacy): step t's rate is
        # lr / (1 + decay * t); 0 (Keras 2.11+'s optimizers have none) leaves it alone
        decay = kwargs.pop("decay", 0.0)
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not decay >= 0:
            raise ValueError(f"{type(self).__name__}: decay must be a float >= 0; received "
                             f"{decay!r}")
        if decay and self._keras_form:  # its update_step reads the rate: none to decay
            raise ValueError(
                f"{type(self).__name__}: Keras 2.11's optimizers (update_step(gradient, "
                f"variable)) take no decay; received decay={decay!r}; pass learning_rate="
                f"keras.optimizers.schedules.InverseTimeDecay(<the rate>, decay_steps=1, "
                f"decay_rate={decay!r}) instead")
        self.decay = float(decay)
        for key, value in kwargs.items():
            if key not in _KERAS_DEFAULTS:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                                f"{key!r}")
            if value != _KERAS_DEFAULTS[key] and key != "jit_compile":
                raise NotImplementedError(f"{type(self).__name__}: {key}={value!r} is not "
                                          f"supported (only {_KERAS_DEFAULTS[key]!r})")
        if sum(x is not None for x in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Pass at most one of clipnorm, clipvalue and global_clipnorm")
        if isinstance(learning_rate, dict):  # a serialized schedule, from get_config
            learning_rate = deserialize_schedule(learning_rate)
        self._schedule = learning_rate if callable(learning_rate) else None
        self._schedule_takes_step = self._schedule is not None and not _zero_arg(
            self._schedule)
        self._learning_rate = None if self._schedule else Variable(
            jnp.float32(learning_rate), trainable=False, name=f"{self.name}/learning_rate")
        # Python floats, so get_config is JSON whatever number type the caller passed.
        self.weight_decay, self.clipnorm, self.clipvalue, self.global_clipnorm = (
            None if x is None else float(x)
            for x in (weight_decay, clipnorm, clipvalue, global_clipnorm))
        self.iterations = Variable(jnp.int32(0), trainable=False, name=f"{self.name}/iterations")
        self._transform = _StateInit(self._init_state)
        self._state = None  # the state Variables, created by build()
        self._slots = None  # {id(variable): [its slot Variables, in slot_names order]}
        self._globals = {}  # {name: Variable} of global_slots()
        self._built_for = None  # the variables built for (kept alive: their ids stay theirs)

    # -- Keras' update rule, per subclass --------------------------------------------------
    def global_slots(self):
        """{name: initial value} of scalar state shared by all variables (Nadam's)."""
        return {}

    def init_slot(self, slot, value):
        return jnp.zeros_like(value)

    def step_constants(self, lr, step):
        """What the update of every variable shares at 1-based `step` (float32)."""
        return {}

    def update_step(self, grad, value, slots, lr, common):
        raise NotImplementedError(f"{type(self).__name__} must define update_step()")

    def update_globals(self, values, common):
        return values

    def globals_after(self, steps):
        """{name: value} of global_slots() after `steps` steps where it follows from the
        count (a file in TF's layout keeps only the count): none by default."""
        return {}

    def global_variables(self):
        """{name: Variable} of global_slots(), once built."""
        return dict(self._globals)

    # -- the learning rate -----------------------------------------------------------------
    def _current_learning_rate(self):
        if self._schedule is None:
            return self._learning_rate.value
        rate = self._schedule(self.iterations.value) if self._schedule_takes_step else \
            self._schedule()
        return jnp.asarray(rate, jnp.float32)

    @property
    def learning_rate(self):
        """The learning-rate Variable (`.assign`, `.numpy()`, `float()`), or with a schedule
        its value at `iterations` (as Keras)."""
        if self._schedule is not None:
            return self._current_learning_rate()
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if self._schedule is not None:
            raise TypeError(f"{self.name}: the learning rate follows a schedule; it cannot be "
                            "set (create the optimizer with a float learning_rate to set it)")
        if callable(value) and not hasattr(value, "__array__"):
            raise TypeError(f"{self.name}: learning_rate was created as a number, a Variable "
                            f"that compiled steps read; to follow {value!r}, create the "
                            "optimizer with learning_rate=<the schedule>")
        self._learning_rate.assign(jnp.float32(value))

    lr = learning_rate  # Keras 2's alias

    # -- state ------------------------------------------------------------------------------
    def _init_state(self, values):
        return ({k: jnp.asarray(v, jnp.float32) for k, v in self.global_slots().items()},
                [[self.init_slot(slot, v) for v in values] for slot in self.slot_names])

    def build(self, variables):
        """Create the state for `variables` (done by the first apply). Slots are ordered
        as Keras' (the shared ones, then each slot for every variable in turn)."""
        if self._state is not None:
            return  # as Keras: built once (compiled steps hold the state Variables made then)
        variables = list(variables)
        if self._keras_form:  # the subclass's build adds its slots after this
            self._build_index(variables)
            return
        with jax.ensure_compile_time_eval():
            shared, slots = self._init_state([v.value for v in variables])
        leaves = _laid_out_like(variables, list(shared.values()),
                                [s for per_slot in slots for s in per_slot])
        self._state = [Variable(leaf, trainable=False, name=f"{self.name}/state_{i}")
                       for i, leaf in enumerate(leaves)]
        self._globals = dict(zip(shared, self._state[:len(shared)]))
        per_slot = self._state[len(shared):]
        n = len(variables)
        self._slots = {id(v): [per_slot[k * n + i] for k in range(len(self.slot_names))]
                       for i, v in enumerate(variables)}
        self._built_for = variables

    @property
    def variables(self):
        # (a Keras 2.11 subclass may have stored its schedule in _learning_rate)
        extra = [self._learning_rate] if isinstance(self._learning_rate, Variable) else []
        return (self.iterations, *extra, *(self._state or []))

    def slot_owners(self):
        """{id(slot Variable): (the Variable it is a slot of, the slot's name)}: what a
        checkpoint records so that a restore pairs each slot with its own variable."""
        if self._state is None:
            return {}
        if self._keras_form:  # recorded by add_variable_from_reference
            return dict(self.__dict__.get("_slot_owners", {}))
        return {id(slot): (variable, name) for variable in self._built_for
                for name, slot in zip(self.slot_names, self._slots[id(variable)])}

    def _slots_for(self, variables):
        unknown = [v.name for v in variables if id(v) not in self._slots]
        if unknown:
            raise ValueError(
                f"{self.name} was built for other variables and cannot update {unknown}: an "
                "optimizer keeps state per variable from its first apply (or build); pass "
                "every variable on the first call, or use a new optimizer for these")
        return [self._slots[id(v)] for v in variables]

    # -- applying ---------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars, name=None, skip_gradients_aggregation=False,
                        **kwargs):
        """Update each Variable from its gradient (pairs `(grad, variable)`, as Keras);
        variables whose gradient is None are left unchanged, with a warning."""
        grads, variables, every = filter_empty_gradients(self.name, grads_and_vars)
        if not every:
            return self.iterations
        if self._state is None:  # as Keras: built for every variable passed, None or not
            self._build_once(every)
        return apply_in_replicas(self.apply, grads, variables, skip_gradients_aggregation,
                                 kwargs)

    def minimize(self, loss, var_list, tape=None):
        """Keras' minimize: `loss` a zero-argument callable (differentiated here), or a
        value recorded by `tape` (an xf.GradientTape, inside an xf.function); `var_list` a
        list of Variables or a callable returning one."""
        if callable(var_list):
            var_list = var_list()
        var_list = list(var_list)
        if tape is None:
            if not callable(loss):
                raise ValueError("minimize: `loss` is a value; pass the tape that recorded "
                                 "it (tape=...) or pass `loss` as a zero-argument callable")
            from xlaflow.tape import value_and_grad
            _, grads = value_and_grad(loss, wrt=var_list)()
        else:
            grads = tape.gradient(loss, var_list)
        return self.apply_gradients(zip(grads, var_list))

    def apply(self, grads, variables):
        """Update `variables` from `grads` (same order); returns the new iteration count."""
        grads, variables = list(grads), list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"{self.name}.apply: {len(grads)} gradients for "
                             f"{len(variables)} variables")
        for g, v in zip(grads, variables):
            if tuple(jnp.shape(g)) != v.shape:
                raise ValueError(f"{self.name}: gradient for {v.name!r} has shape "
                                 f"{tuple(jnp.shape(g))}, the variable {v.shape}")
        if self._state is None:
            self._build_once(variables)
        if self._keras_form:
            return self._apply_keras_form(grads, variables)
        slots = self._slots_for(variables)
        grads = self._clip([jnp.asarray(g, v.dtype) for g, v in zip(grads, variables)])
        lr = self._current_learning_rate()
        if self.decay:  # Keras 2's _decayed_lr, at the step count before this step
            lr = lr / (1.0 + self.decay * self.iterations.value.astype(jnp.float32))
        step = (self.iterations.value + 1).astype(jnp.float32)
        shared = {k: v.value for k, v in self._globals.items()}
        common = {**self.step_constants(lr, step), **shared}
        for var, grad, holders in zip(variables, grads, slots):
            value = var.value
            dtype = var.dtype

            def cast(x, dtype=dtype):  # as Keras: the rate and constants in the var's dtype
                return jnp.asarray(x, dtype)
            var_lr = cast(lr)
            if self.weight_decay:  # Keras: before the update, with the current rate
                value = value - value * cast(self.weight_decay) * var_lr
            new, new_slots = self.update_step(
                grad, value, [h.value for h in holders], var_lr,
                {k: cast(c) for k, c in common.items()})
            new = jnp.asarray(new).astype(dtype)
            constraint = getattr(var, "constraint", None)
            if constraint is not None:  # Keras: projected right after its update
                new = _constrained(var, constraint, new)
            var.assign(new)
            for holder, slot in zip(holders, new_slots):
                holder.assign(jnp.asarray(slot).astype(holder.dtype))
        for key, value in self.update_globals(shared, common).items():
            self._globals[key].assign(value)
        return self.iterations.assign_add(1)

    def _clip(self, grads):
        # As Keras, a bound of 0 or less means no clipping.
        if self.clipvalue is not None and self.clipvalue > 0:
            return [jnp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None and self.clipnorm > 0:
            return [g * jnp.minimum(1.0, self.clipnorm / jnp.maximum(jnp.linalg.norm(g), 1e-12))
                    for g in grads]
        if self.global_clipnorm is not None and self.global_clipnorm > 0:
            # By hand: optax.global_norm is deprecated (a DeprecationWarning at every step).
            norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in grads))
            return [g * jnp.minimum(1.0, self.global_clipnorm / jnp.maximum(norm, 1e-12))
                    for g in grads]
        return grads

    # -- config -----------------------------------------------------------------------------
    def get_config(self):
        """The constructor arguments (JSON); a schedule as its `{class_name, config}`."""
        learning_rate = serialize_schedule(self._schedule) if self._schedule else float(
            self._learning_rate.numpy())
        return {"name": self.name, "learning_rate": learning_rate,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                **({"decay": self.decay} if self.decay else {})}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _constrained(var, constraint, value):
    """`constraint(value)` for the updated `var`, checked to keep its shape and cast to its
    dtype (a constraint runs inside the compiled step, so it must be jnp code)."""
    projected = jnp.asarray(constraint(value))
    if projected.shape != value.shape:
        raise ValueError(f"the constraint {constraint!r} of {var.name!r} returned shape "
                         f"{projected.shape}; it must keep the variable's shape {value.shape}")
    return projected.astype(value.dtype)


def filter_empty_gradients(name, grads_and_vars):
    """(grads, variables) without the None gradients, and every variable passed. As Keras:
    a warning names the variables without a gradient; none at all is a ValueError, raised
    before anything changes."""
    pairs = list(grads_and_vars)
    every = [v for _, v in pairs]
    missing = [v.name for g, v in pairs if g is None]
    if pairs and len(missing) == len(pairs):
        raise ValueError(f"No gradients provided for any variable: {missing}. {name}: "
                         "every gradient is None (is the loss computed from these "
                         "variables, under the tape?)")
    if missing:
        warnings.warn(f"{name}: gradients do not exist for variables {missing} when "
                      "minimizing the loss; they are left unchanged", stacklevel=3)
    pairs = [(g, v) for g, v in pairs if g is not None]
    return [g for g, _ in pairs], [v for _, v in pairs], every


def apply_in_replicas(apply, grads, variables, skip_gradients_aggregation, kwargs):
    """`apply(grads, variables)` for apply_gradients: inside strategy.run, as TF, the
    replicas' gradients summed (unless skip_gradients_aggregation, or the legacy
    optimizers' experimental_aggregate_gradients=False), then one update."""
    from xlaflow.distribute import replica_run
    aggregate = not skip_gradients_aggregation and kwargs.get(
        "experimental_aggregate_gradients", True)
    return replica_run.apply_in_cross_replica(apply, grads, variables, aggregate)
