"""Keras-named optimizers on optax: `Adam(learning_rate=...)`, `apply_gradients(...)`.

Each optimizer wraps an optax GradientTransformation that scales gradients (Adam's moments,
RMSprop, momentum); xlaflow then applies clipping, the learning rate and decoupled weight
decay. The optax state lives in Variables created by `build`, and the learning rate is a
Variable too, so changing it (ReduceLROnPlateau) never retraces the training step.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import optax

from xlaflow.module import Module
from xlaflow.schedules import (  # noqa: F401  (Keras' names, here as before)
    ExponentialDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    deserialize_schedule,
    serialize_schedule,
)
from xlaflow.variables import Variable


class Optimizer(Module):
    """Base class: subclasses give `transform()`, the optax scaling without learning rate.

    Args:
      learning_rate: a float or a schedule `step -> rate` (optax schedules work; only a
        LearningRateSchedule below, or its serialized dict, survives get_config).
      weight_decay: decoupled weight decay (AdamW style), applied as `lr * wd * weight`.
      clipnorm: clip each gradient to this norm; clipvalue: clip elementwise;
      global_clipnorm: clip all gradients together to this global norm.
    """

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None):
        super().__init__(name=name or type(self).__name__.lower())
        if sum(x is not None for x in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Pass at most one of clipnorm, clipvalue and global_clipnorm")
        if isinstance(learning_rate, dict):  # a serialized schedule, from get_config
            learning_rate = deserialize_schedule(learning_rate)
        self._schedule = learning_rate if callable(learning_rate) else None
        self._learning_rate = None if self._schedule else Variable(
            jnp.float32(learning_rate), trainable=False, name=f"{self.name}/learning_rate")
        # Python floats, so get_config is JSON whatever number type the caller passed.
        self.weight_decay, self.clipnorm, self.clipvalue, self.global_clipnorm = (
            None if x is None else float(x)
            for x in (weight_decay, clipnorm, clipvalue, global_clipnorm))
        self.iterations = Variable(jnp.int32(0), trainable=False, name=f"{self.name}/iterations")
        self._transform = self.transform()
        self._state = None  # Variables holding the optax state, created by build()
        self._state_tree = None
        self._built_for = None

    def transform(self):
        raise NotImplementedError(f"{type(self).__name__} must define transform()")

    @property
    def learning_rate(self):
        """The current learning rate (a schedule is evaluated at `iterations`)."""
        if self._schedule is not None:
            return jnp.asarray(self._schedule(self.iterations.value), jnp.float32)
        return self._learning_rate.value

    @learning_rate.setter
    def learning_rate(self, value):
        if self._schedule is not None:
            raise TypeError(f"{self.name}: the learning rate follows a schedule; it cannot be "
                            "set")
        self._learning_rate.assign(jnp.float32(value))

    def build(self, variables):
        """Create the optimizer state for `variables` (done by the first apply)."""
        values = [v.value for v in variables]
        with jax.ensure_compile_time_eval():
            state = self._transform.init(values)
        leaves, self._state_tree = jax.tree_util.tree_flatten(state)
        self._state = [Variable(leaf, trainable=False, name=f"{self.name}/state_{i}")
                       for i, leaf in enumerate(leaves)]
        self._built_for = [id(v) for v in variables]

    @property
    def variables(self):
        extra = [] if self._learning_rate is None else [self._learning_rate]
        return (self.iterations, *extra, *(self._state or []))

    def apply_gradients(self, grads_and_vars):
        """Update each Variable from its gradient (pairs `(grad, variable)`, as Keras)."""
        pairs = list(grads_and_vars)
        missing = [v.name for g, v in pairs if g is None]
        if missing:
            warnings.warn(f"{self.name}: gradients do not exist for variables {missing} when "
                          "minimizing the loss; they are left unchanged", stacklevel=2)
        pairs = [(g, v) for g, v in pairs if g is not None]
        return self.apply([g for g, _ in pairs], [v for _, v in pairs])

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
            self.build(variables)
        elif self._built_for != [id(v) for v in variables]:
            raise ValueError(f"{self.name} was built for a different list of variables; use "
                             "one optimizer per list of variables, in the same order")
        grads = self._clip([jnp.asarray(g, v.dtype) for g, v in zip(grads, variables)])
        values = [v.value for v in variables]
        state = jax.tree_util.tree_unflatten(self._state_tree, [s.value for s in self._state])
        updates, state = self._transform.update(grads, state, values)
        lr = self.learning_rate
        for var, update, value in zip(variables, updates, values):
            step = -lr * update
            if self.weight_decay:
                step = step - lr * self.weight_decay * value
            var.assign(value + step.astype(var.dtype))
        for holder, leaf in zip(self._state, jax.tree_util.tree_leaves(state)):
            holder.assign(leaf)
        return self.iterations.assign_add(1)

    def _clip(self, grads):
        if self.clipvalue is not None:
            return [jnp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            return [g * jnp.minimum(1.0, self.clipnorm / jnp.maximum(jnp.linalg.norm(g), 1e-12))
                    for g in grads]
        if self.global_clipnorm is not None:
            # By hand: optax.global_norm is deprecated (a DeprecationWarning at every step).
            norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in grads))
            return [g * jnp.minimum(1.0, self.global_clipnorm / jnp.maximum(norm, 1e-12))
                    for g in grads]
        return grads

    def get_config(self):
        """The constructor arguments (JSON); a schedule as its `{class_name, config}`."""
        learning_rate = serialize_schedule(self._schedule) if self._schedule else float(
            self._learning_rate.numpy())
        return {"name": self.name, "learning_rate": learning_rate,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}

    def transform(self):
        if not self.momentum:
            return optax.identity()
        return optax.trace(decay=self.momentum, nesterov=self.nesterov)


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}

    def transform(self):
        scale = optax.scale_by_amsgrad if self.amsgrad else optax.scale_by_adam
        return scale(b1=self.beta_1, b2=self.beta_2, eps=self.epsilon)


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}

    def transform(self):
        scale = (optax.scale_by_stddev if self.centered else optax.scale_by_rms)(
            decay=self.rho, eps=self.epsilon, eps_in_sqrt=False)
        if self.momentum:
            return optax.chain(scale, optax.trace(decay=self.momentum))
        return scale


class Adagrad(Optimizer):
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}

    def transform(self):
        return optax.scale_by_rss(initial_accumulator_value=self.initial_accumulator_value,
                                  eps=self.epsilon)


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def serialize(optimizer):
    """`{"class_name": <Keras class name>, "config": get_config()}` of a built-in optimizer."""
    if type(optimizer) not in _BY_NAME.values():
        raise ValueError(f"optimizer {optimizer!r} is not a built-in optimizer and cannot be "
                         f"serialized; expected one of {sorted(_BY_NAME)}")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    """The optimizer of a `serialize` dict (class_name 'Adam' or 'adam')."""
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = _BY_NAME.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"Unknown optimizer in config: {config!r}; expected class_name one "
                         f"of {sorted(c.__name__ for c in _BY_NAME.values())}")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """An Optimizer from a name ('adam', 'sgd', 'rmsprop', 'adamw', 'adagrad'), a
    `serialize` dict, an Optimizer or a LossScaleOptimizer."""
    from xlaflow.loss_scale import LossScaleOptimizer  # wraps an Optimizer: one too
    if isinstance(identifier, (Optimizer, LossScaleOptimizer)):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Unknown optimizer {identifier!r}; expected one of {sorted(_BY_NAME)}, "
                     "a serialized optimizer dict or an Optimizer")
