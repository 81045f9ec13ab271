"""Dynamic loss scaling for float16 training (Keras' LossScaleOptimizer).

The loss is multiplied by `scale` before differentiation so small float16 gradients do
not flush to zero; `apply` divides the gradients back, and when any is not finite it
skips the update (every Variable and the optimizer state keep their values; `iterations`
still counts the step, as Keras 2) and halves the scale. After
`dynamic_growth_steps` finite steps in a row the scale doubles. All of it is array
arithmetic, so it compiles into the training step without host round trips.

Keras 2's custom loop (`get_scaled_loss`, `get_unscaled_gradients`, `apply_gradients`)
works too: `get_unscaled_gradients` divides and marks the next `apply_gradients` as
receiving unscaled gradients, which then only checks them and steps the scale.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow.module import Module
from xlaflow.variables import Variable


class LossScaleOptimizer(Module):
    """Wraps an optimizer: `scale_loss(loss)` before taking gradients, then `apply`."""

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000,
                 name=None):
        super().__init__(name=name or f"loss_scale_{inner_optimizer.name}")
        self.inner_optimizer = inner_optimizer
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.scale = Variable(jnp.float32(initial_scale), trainable=False,
                              name=f"{self.name}/scale")
        self.good_steps = Variable(jnp.int32(0), trainable=False,
                                   name=f"{self.name}/good_steps")
        self._given_unscaled = False  # set by get_unscaled_gradients, read by apply_gradients

    def __getattr__(self, name):  # learning_rate, iterations, get_config, ...
        if name == "inner_optimizer":
            raise AttributeError(name)
        return getattr(self.inner_optimizer, name)

    @property
    def variables(self):
        return (self.scale, self.good_steps, *self.inner_optimizer.variables)

    def scale_loss(self, loss):
        return loss * self.scale.value.astype(loss.dtype)

    def get_scaled_loss(self, loss):
        """TF2's name for scale_loss."""
        return self.scale_loss(loss)

    def get_unscaled_gradients(self, grads):
        """Keras 2: the gradients of the scaled loss divided by the scale (None kept).

        The next `apply_gradients` then takes them as already unscaled (Keras 2 divides only
        here; Keras 3's flow, gradients of the scaled loss straight to apply_gradients,
        divides there). The mark is Python state, set and consumed in the same trace."""
        inv = 1.0 / self.scale.value
        self._given_unscaled = True
        return [None if g is None else
                (jnp.asarray(g, jnp.float32) * inv).astype(jnp.asarray(g).dtype)
                for g in grads]

    @property
    def loss_scale(self):
        """Keras 2's name for the current scale (a float32 scalar)."""
        return self.scale.value

    @property
    def dynamic(self):
        return True  # only dynamic scaling is provided, as Keras 2's default

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):  # callbacks set the rate on model.optimizer
        self.inner_optimizer.learning_rate = value

    lr = learning_rate

    def minimize(self, loss, var_list, tape=None):
        """Keras' minimize with loss scaling: `loss` a zero-argument callable, scaled before
        it is differentiated; the step is unscaled and skipped when not finite."""
        if tape is not None or not callable(loss):
            raise NotImplementedError(
                f"{self.name}.minimize with a tape: the loss must be scaled inside the tape's "
                "block; pass `loss` as a zero-argument callable, or compute "
                "tape.gradient(optimizer.scale_loss(loss), vars) and call apply_gradients")
        var_list = list(var_list() if callable(var_list) else var_list)
        from xlaflow.tape import value_and_grad
        _, grads = value_and_grad(lambda: self.scale_loss(jnp.asarray(loss())),
                                  wrt=var_list)()
        return self.apply_gradients(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, name=None, skip_gradients_aggregation=False,
                        **kwargs):
        from xlaflow.optimizer_base import apply_in_replicas, filter_empty_gradients
        unscaled, self._given_unscaled = self._given_unscaled, False
        grads, variables, every = filter_empty_gradients(self.name, grads_and_vars)
        if not every:
            return self.inner_optimizer.iterations
        if self.inner_optimizer._state is None:
            self.inner_optimizer.build(every)
        return apply_in_replicas(lambda g, v: self.apply(g, v, unscaled=unscaled), grads,
                                 variables, skip_gradients_aggregation, kwargs)

    def apply(self, grads, variables, unscaled=False):
        """Unscale `grads` (of a scaled loss; as given when `unscaled`, after
        get_unscaled_gradients) and update, or skip when any is not finite."""
        variables, grads = list(variables), list(grads)
        if not grads:
            raise ValueError(f"{self.name}.apply: no gradients to apply")
        inv = 1.0 if unscaled else 1.0 / self.scale.value
        grads = [(jnp.asarray(g, jnp.float32) * inv).astype(v.dtype)
                 for g, v in zip(grads, variables)]
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in grads]))
        grads = [jnp.where(finite, g, jnp.zeros_like(g)) for g in grads]
        if self.inner_optimizer._state is None:
            self.inner_optimizer.build(variables)
        # A skipped step leaves the variables and the optimizer state as they were, but
        # still counts in `iterations` (Keras 2), so schedules stay aligned with the steps.
        iterations = self.inner_optimizer.iterations
        state = [*variables, *(v for v in self.inner_optimizer.variables
                               if v is not iterations)]
        before = [v.value for v in state]
        self.inner_optimizer.apply(grads, variables)
        for v, old in zip(state, before):
            v.assign(jnp.where(finite, v.value, old))
        grown = self.good_steps.value + 1 >= self.dynamic_growth_steps
        self.scale.assign(jnp.where(finite, jnp.where(grown, self.scale.value * 2.0,
                                                      self.scale.value),
                                    jnp.maximum(self.scale.value / 2.0, 1.0)))
        self.good_steps.assign(jnp.where(finite & ~grown, self.good_steps.value + 1, 0))
        return self.inner_optimizer.iterations.value

    def get_config(self):
        from xlaflow.saving.serialization import serialize_keras_object
        return {"inner_optimizer": serialize_keras_object(self.inner_optimizer),
                "initial_scale": float(jax.device_get(self.scale.value)),
                "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config):
        from xlaflow.saving.serialization import deserialize_keras_object
        return cls(deserialize_keras_object(config["inner_optimizer"]),
                   config["initial_scale"], config["dynamic_growth_steps"])
