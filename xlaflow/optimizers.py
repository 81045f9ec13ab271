"""Keras' optimizers: `Adam(learning_rate=...)`, `apply_gradients(...)`.

Each class states Keras 2.11+'s update rule for one variable (its `update_step`), in
jax.numpy; the shared machinery (None gradients, clipping, learning rate, weight decay, slot
Variables keyed per variable) is xlaflow/optimizer_base.py. The learning rate is a Variable
(or a schedule of `iterations`), so changing it (ReduceLROnPlateau) never retraces the
training step, and momentum accumulates learning-rate-scaled steps as Keras': a new rate
applies to new steps only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.optimizer_base import Optimizer, filter_empty_gradients  # noqa: F401
from xlaflow.schedules import (  # noqa: F401  (Keras' names, here as before)
    ExponentialDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    deserialize_schedule,
    serialize_schedule,
)


class SGD(Optimizer):
    """`m = momentum * m - lr * g; w += m` (nesterov: `w += momentum * m - lr * g`);
    without momentum `w -= lr * g` and no slot."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1]; received {momentum}")
        self.slot_names = ("m",) if self.momentum else ()
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}

    def update_step(self, grad, value, slots, lr, common):
        if not self.momentum:
            return value - lr * grad, ()
        momentum = jnp.asarray(self.momentum, value.dtype)
        m = momentum * slots[0] - lr * grad
        step = momentum * m - lr * grad if self.nesterov else m
        return value + step, (m,)


class _Moments(Optimizer):
    """The Adam family's arguments: decay rates of the first and second moments, epsilon."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 **kwargs):
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Adam(_Moments):
    """Keras' Adam: the bias correction folded into the rate, epsilon added after the root:
    `lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); w -= lr_t * m / (sqrt(v) + eps)`; amsgrad
    keeps `v_hat = max(v_hat, v)` of the raw v and divides by `sqrt(v_hat) + eps`."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "v_hat") if self.amsgrad else ("m", "v")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)

    def get_config(self):
        return {**super().get_config(), "amsgrad": self.amsgrad}

    def step_constants(self, lr, step):
        return {"alpha": lr * jnp.sqrt(1.0 - self.beta_2 ** step) / (1.0 - self.beta_1 ** step)}

    def update_step(self, grad, value, slots, lr, common):
        m = slots[0] + (grad - slots[0]) * (1.0 - self.beta_1)
        v = slots[1] + (jnp.square(grad) - slots[1]) * (1.0 - self.beta_2)
        new_slots = (m, v)
        if self.amsgrad:
            v_hat = jnp.maximum(slots[2], v)
            new_slots, v = (m, v, v_hat), v_hat
        return value - m * common["alpha"] / (jnp.sqrt(v) + self.epsilon), new_slots


class AdamW(Adam):
    """Adam with decoupled weight decay (`w -= lr * weight_decay * w` before each step)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """Keras' RMSprop, epsilon inside the root: `v = rho * v + (1 - rho) * g^2;
    inc = lr * g / sqrt(v + eps)` (centered: `sqrt(v - avg_g^2 + eps)`); `w -= inc`, or
    with momentum `mom = momentum * mom + inc; w -= mom`."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)
        self.slot_names = ("velocity", *(("momentum",) if self.momentum else ()),
                           *(("average_gradient",) if self.centered else ()))
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}

    def update_step(self, grad, value, slots, lr, common):
        slots = dict(zip(self.slot_names, slots))
        velocity = self.rho * slots["velocity"] + (1.0 - self.rho) * jnp.square(grad)
        new = {"velocity": velocity}
        denominator = velocity + self.epsilon
        if self.centered:
            average = self.rho * slots["average_gradient"] + (1.0 - self.rho) * grad
            new["average_gradient"] = average
            denominator = denominator - jnp.square(average)
        increment = lr * grad * jax.lax.rsqrt(denominator)
        if self.momentum:
            increment = self.momentum * slots["momentum"] + increment
            new["momentum"] = increment
        return value - increment, tuple(new[k] for k in self.slot_names)


class Adagrad(Optimizer):
    """`acc += g^2; w -= lr * g / sqrt(acc + eps)`, acc starting at
    initial_accumulator_value."""

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}

    def init_slot(self, slot, value):
        return jnp.full_like(value, self.initial_accumulator_value)

    def update_step(self, grad, value, slots, lr, common):
        accumulator = slots[0] + jnp.square(grad)
        return value - lr * grad / jnp.sqrt(accumulator + self.epsilon), (accumulator,)


class Adamax(_Moments):
    """Keras' Adamax: `m += (g - m) * (1 - b1); u = max(b2 * u, |g|);
    w -= lr * m / ((1 - b1^t) * (u + eps))`."""

    slot_names = ("m", "u")

    def step_constants(self, lr, step):
        return {"correction": 1.0 - self.beta_1 ** step}

    def update_step(self, grad, value, slots, lr, common):
        m = slots[0] + (grad - slots[0]) * (1.0 - self.beta_1)
        u = jnp.maximum(self.beta_2 * slots[1], jnp.abs(grad))
        return value - lr * m / (common["correction"] * (u + self.epsilon)), (m, u)


class Nadam(_Moments):
    """Keras' Nadam (momentum schedule `u_t = b1 * (1 - 0.5 * 0.96^t)`, its running product
    a shared slot): `m_hat = u_{t+1} m / (1 - prod_{t+1}) + (1 - u_t) g / (1 - prod_t);
    v_hat = v / (1 - b2^t); w -= lr * m_hat / (sqrt(v_hat) + eps)`."""

    slot_names = ("m", "v")

    def global_slots(self):
        return {"u_product": 1.0}

    def step_constants(self, lr, step):
        u_t = self.beta_1 * (1.0 - 0.5 * 0.96 ** step)
        u_next = self.beta_1 * (1.0 - 0.5 * 0.96 ** (step + 1.0))
        return {"u_t": u_t, "u_next": u_next, "beta_2_power": self.beta_2 ** step}

    def update_step(self, grad, value, slots, lr, common):
        u_t, u_next = common["u_t"], common["u_next"]
        product = common["u_product"] * u_t
        m = slots[0] + (grad - slots[0]) * (1.0 - self.beta_1)
        v = slots[1] + (jnp.square(grad) - slots[1]) * (1.0 - self.beta_2)
        m_hat = u_next * m / (1.0 - product * u_next) + (1.0 - u_t) * grad / (1.0 - product)
        v_hat = v / (1.0 - common["beta_2_power"])
        return value - m_hat * lr / (jnp.sqrt(v_hat) + self.epsilon), (m, v)

    def update_globals(self, values, common):
        return {"u_product": values["u_product"] * common["u_t"]}

    def globals_after(self, steps):
        """The momentum product after `steps` steps, which TF's files do not keep."""
        t = np.arange(1, int(steps) + 1, dtype=np.float64)
        return {"u_product": np.float32(np.prod(self.beta_1 * (1.0 - 0.5 * 0.96 ** t)))}


class Adadelta(Optimizer):
    """Keras' Adadelta, epsilon inside both roots: `acc_g = rho * acc_g + (1 - rho) * g^2;
    d = -sqrt(acc_d + eps) * g / sqrt(acc_g + eps); acc_d = rho * acc_d + (1 - rho) * d^2;
    w += lr * d` (Keras' default rate is 0.001; the paper's form is learning_rate=1.0)."""

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        self.rho, self.epsilon = float(rho), float(epsilon)
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}

    def update_step(self, grad, value, slots, lr, common):
        accumulated_grad = self.rho * slots[0] + (1.0 - self.rho) * jnp.square(grad)
        delta = -jnp.sqrt(slots[1] + self.epsilon) * grad / jnp.sqrt(
            accumulated_grad + self.epsilon)
        accumulated_delta = self.rho * slots[1] + (1.0 - self.rho) * jnp.square(delta)
        return value + lr * delta, (accumulated_grad, accumulated_delta)


class Ftrl(Optimizer):
    """Keras' FTRL-Proximal: `n' = n + g^2; z += g_s - (n'^-p - n^-p) / lr * w;
    w = (clip(z, -l1, l1) - z) / (n'^-p / lr + 2 * (l2 + beta / (2 lr)))`, with `p` the
    learning_rate_power, `g_s = g + 2 * l2_shrinkage * w`, n starting at
    initial_accumulator_value (the slots `accumulator` and `linear`)."""

    slot_names = ("accumulator", "linear")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, **kwargs):
        given = {"initial_accumulator_value": initial_accumulator_value,
                 "l1_regularization_strength": l1_regularization_strength,
                 "l2_regularization_strength": l2_regularization_strength,
                 "l2_shrinkage_regularization_strength": l2_shrinkage_regularization_strength}
        for name, value in given.items():  # checked before any state exists, as Keras
            if value < 0.0:
                raise ValueError(f"Ftrl: `{name}` needs to be positive or zero; received "
                                 f"{name}={value}")
        if learning_rate_power > 0.0:
            raise ValueError(f"Ftrl: `learning_rate_power` needs to be negative or zero; "
                             f"received learning_rate_power={learning_rate_power}")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = float(beta)
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength":
                    self.l2_shrinkage_regularization_strength,
                "beta": self.beta}

    def init_slot(self, slot, value):
        if slot == "accumulator":
            return jnp.full_like(value, self.initial_accumulator_value)
        return jnp.zeros_like(value)

    def update_step(self, grad, value, slots, lr, common):
        accumulator, linear = slots
        power = -self.learning_rate_power
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        shrunk = grad + 2.0 * self.l2_shrinkage_regularization_strength * value
        new_accumulator = accumulator + jnp.square(grad)  # the raw gradient, as Keras
        linear = linear + shrunk - (jnp.power(new_accumulator, power) -
                                    jnp.power(accumulator, power)) / lr * value
        quadratic = jnp.power(new_accumulator, power) / lr + 2.0 * l2
        l1 = self.l1_regularization_strength
        new_value = (jnp.clip(linear, -l1, l1) - linear) / quadratic
        return new_value, (new_accumulator, linear)


class Lion(Optimizer):
    """Keras' Lion: `w -= lr * sign(b1 * m + (1 - b1) * g); m = b2 * m + (1 - b2) * g`
    (the sign of an interpolation steps, another one is kept; Keras' default rate 1e-4)."""

    slot_names = ("m",)

    def __init__(self, learning_rate=0.0001, beta_1=0.9, beta_2=0.99, **kwargs):
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}

    def update_step(self, grad, value, slots, lr, common):
        m = slots[0]
        step = jnp.sign(m * self.beta_1 + grad * (1.0 - self.beta_1))
        return value - lr * step, (m * self.beta_2 + grad * (1.0 - self.beta_2),)


class Adafactor(Optimizer):
    """Keras' Adafactor (Shazeer & Stern, 2018). For a variable of 2+ axes the squared
    gradient's average is kept factored, `r` (its mean over the last axis) and `c` (over
    the second last), and `v` is rebuilt from them each step; a smaller variable keeps `v`
    itself (its `r`/`c` are scalar placeholders, as Keras'). The step is the gradient over
    sqrt(v), clipped to an RMS of `clip_threshold`, times max(epsilon_2, RMS(w)) *
    min(lr, 1/sqrt(t)); `beta_2` at step t is 1 - t**beta_2_decay."""

    slot_names = ("r", "c", "v")

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30,
                 epsilon_2=1e-3, clip_threshold=1.0, relative_step=True, **kwargs):
        self.beta_2_decay, self.epsilon_1, self.epsilon_2, self.clip_threshold = (
            float(beta_2_decay), float(epsilon_1), float(epsilon_2), float(clip_threshold))
        # Keras keeps it in the config; its update takes min(lr, 1/sqrt(t)) either way
        self.relative_step = bool(relative_step)
        super().__init__(learning_rate, **kwargs)

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay,
                "epsilon_1": self.epsilon_1, "epsilon_2": self.epsilon_2,
                "clip_threshold": self.clip_threshold, "relative_step": self.relative_step}

    def init_slot(self, slot, value):
        shape = jnp.shape(value)
        if slot == "v":
            return jnp.zeros_like(value)
        if len(shape) < 2:
            return jnp.zeros((), jnp.result_type(value))
        return jnp.zeros(shape[:-1] if slot == "r" else (*shape[:-2], shape[-1]),
                         jnp.result_type(value))

    def step_constants(self, lr, step):
        return {"rho": jnp.minimum(lr, jax.lax.rsqrt(step)),
                "beta_2": 1.0 - jnp.power(step, self.beta_2_decay)}

    def update_step(self, grad, value, slots, lr, common):
        r, c, v = slots
        beta_2 = common["beta_2"]
        squared = jnp.square(grad) + self.epsilon_1
        if value.ndim >= 2:
            r = beta_2 * r + (1.0 - beta_2) * jnp.mean(squared, axis=-1)
            c = beta_2 * c + (1.0 - beta_2) * jnp.mean(squared, axis=-2)
            v = (r / jnp.mean(r, axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v = beta_2 * v + (1.0 - beta_2) * squared
        u = grad * jax.lax.rsqrt(v)
        u = u / jnp.maximum(1.0, _rms(u) / self.clip_threshold)
        alpha = jnp.maximum(self.epsilon_2, _rms(value)) * common["rho"]
        return value - alpha * u, (r, c, v)


def _rms(x):
    return jnp.sqrt(jnp.mean(jnp.square(x)))


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
            "adamax": Adamax, "nadam": Nadam, "adadelta": Adadelta, "ftrl": Ftrl,
            "lion": Lion, "adafactor": Adafactor}


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
    """An Optimizer from a name ('adam', 'sgd', 'rmsprop', 'adamw', 'adagrad', 'adamax',
    'nadam', 'adadelta', 'ftrl', 'lion', 'adafactor'), a `serialize` dict, an Optimizer class, an
    Optimizer or a LossScaleOptimizer."""
    from xlaflow.loss_scale import LossScaleOptimizer  # wraps an Optimizer: one too
    if isinstance(identifier, (Optimizer, LossScaleOptimizer)):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(f"Unknown optimizer {identifier!r}; expected one of {sorted(_BY_NAME)}, "
                     "a serialized optimizer dict or an Optimizer")
