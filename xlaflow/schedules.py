"""Keras' learning-rate schedules (`keras.optimizers.schedules`): serializable callables
`step -> learning rate`, so an optimizer using one can be saved and loaded."""

from __future__ import annotations

import jax.numpy as jnp


class LearningRateSchedule:
    """A serializable schedule `step -> learning rate` (Keras' class); optax's schedule
    functions work as learning rates too, but a saved optimizer needs one of these."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _decay_steps(owner, decay_steps):
    """decay_steps as given, not truncated (Keras divides by it: 2.5 steps is 2.5); > 0."""
    if not float(decay_steps) > 0:
        raise ValueError(f"{owner}: decay_steps must be positive; received {decay_steps!r}")
    return _number(decay_steps)


def _number(x):
    """An int stays an int (JSON configs as given), anything else becomes a float."""
    return x if isinstance(x, int) and not isinstance(x, bool) else float(x)


class _RateDecay(LearningRateSchedule):
    """A decay by `decay_rate` per `decay_steps` (a whole number of them if staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _decay_steps(type(self).__name__, decay_steps)
        self.decay_rate, self.staircase = float(decay_rate), bool(staircase)
        self.name = name or type(self).__name__

    def _progress(self, step):
        progress = jnp.asarray(step, jnp.float32) / self.decay_steps
        return jnp.floor(progress) if self.staircase else progress

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)` (floored if staircase)."""

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[0]` up to step `boundaries[0]` (inclusive), `values[1]` up to
    `boundaries[1]`, ..., `values[-1]` after the last boundary (as Keras)."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: values needs one more entry than "
                             f"boundaries; received {len(boundaries)} boundaries and values "
                             f"{values!r}")
        # Not truncated: Keras compares the step with the boundaries as given.
        self.boundaries, self.values = [_number(b) for b in boundaries], \
            [float(v) for v in values]
        self.name = name

    def __call__(self, step):
        index = jnp.sum(jnp.asarray(step, jnp.float32) > jnp.asarray(self.boundaries,
                                                                      jnp.float32))
        return jnp.asarray(self.values, jnp.float32)[index]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Keras' cosine decay from `initial_learning_rate` to `alpha` times it over
    `decay_steps`, after an optional linear warm-up to `warmup_target` over `warmup_steps`."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _decay_steps("CosineDecay", decay_steps)
        self.alpha, self.name = float(alpha), name
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        self.warmup_steps = _number(warmup_steps)

    def __call__(self, step):
        step = jnp.asarray(step, jnp.float32)
        # As Keras: no target, no warm-up (warmup_steps ignored)
        warming = self.warmup_target is not None and self.warmup_steps > 0
        peak = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        done = jnp.clip(step - (self.warmup_steps if warming else 0), 0.0, self.decay_steps)
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * done / self.decay_steps))
        decayed = peak * ((1.0 - self.alpha) * cosine + self.alpha)
        if not warming:
            return decayed
        warm = self.initial_learning_rate + (peak - self.initial_learning_rate) * (
            step / self.warmup_steps)
        return jnp.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class InverseTimeDecay(_RateDecay):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)` (floored if
    staircase), as Keras."""

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


class PolynomialDecay(LearningRateSchedule):
    """Keras' polynomial decay from `initial_learning_rate` to `end_learning_rate` over
    `decay_steps` (`power` 1: linear); with `cycle`, the horizon grows by decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False, name="PolynomialDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _decay_steps("PolynomialDecay", decay_steps)
        self.end_learning_rate, self.power = float(end_learning_rate), float(power)
        self.cycle, self.name = bool(cycle), name

    def __call__(self, step):
        step = jnp.asarray(step, jnp.float32)
        if self.cycle:
            horizon = self.decay_steps * jnp.maximum(jnp.ceil(step / self.decay_steps), 1.0)
        else:
            horizon, step = float(self.decay_steps), jnp.minimum(step, self.decay_steps)
        fraction = (1.0 - step / horizon) ** self.power
        return (self.initial_learning_rate - self.end_learning_rate) * fraction + \
            self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay,
                                            CosineDecay, InverseTimeDecay, PolynomialDecay)}


def serialize_schedule(schedule):
    """`{"class_name", "config"}` of a built-in LearningRateSchedule."""
    if type(schedule) not in _SCHEDULES.values():
        raise ValueError(f"learning_rate schedule {schedule!r} cannot be serialized: only "
                         f"the built-in schedules {sorted(_SCHEDULES)} can (an optax schedule "
                         "function or a custom callable cannot)")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize_schedule(config):
    cls = _SCHEDULES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown learning_rate schedule in config: {config!r}; expected "
                         f"class_name one of {sorted(_SCHEDULES)}")
    return cls.from_config(config.get("config", {}))
