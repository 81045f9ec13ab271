"""The Keras 2.11+ way to write an optimizer: `build(var_list)` creating slots with
`add_variable_from_reference`, and `update_step(gradient, variable)` assigning them.

xlaflow's own optimizers state a pure rule (`update_step(grad, value, slots, lr, common)`);
a user's subclass that overrides `update_step(gradient, variable)` instead gets Keras' helpers
from this mixin, and `Optimizer.apply` hands it each Variable to assign, inside the same
compiled step. The pre-2.11 `_resource_apply_dense` form (OptimizerV2) is refused by name.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp

from xlaflow.variables import Variable

_LEGACY_HOOKS = ("_resource_apply_dense", "_resource_apply_sparse", "_create_slots")


def _takes_gradient_and_variable(fn):
    """True for Keras' `update_step(self, gradient, variable)` (two arguments, not five)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY,
                                                      p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 2


class KerasSubclassAPI:
    """Keras 2.11's optimizer helpers, for subclasses written in Keras' form."""

    _keras_form = False  # set per subclass by __init_subclass__
    _legacy_form = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "update_step" in vars(cls):
            cls._keras_form = _takes_gradient_and_variable(cls.update_step)
        legacy = [hook for hook in _LEGACY_HOOKS if hook in vars(cls)]
        if legacy:
            cls._legacy_form = legacy

    def _refuse_legacy_form(self):
        if self._legacy_form:
            raise NotImplementedError(
                f"{type(self).__name__} defines {', '.join(self._legacy_form)}: the legacy "
                "OptimizerV2 subclassing API (keras.optimizers.legacy) is not supported. "
                "Write the Keras 2.11+ form: create slots in build(var_list) with "
                "self.add_variable_from_reference(var, 'name'), and update one variable in "
                "update_step(gradient, variable) with variable.assign(...)")

    def _build_learning_rate(self, learning_rate):
        """Keras 2.11: the rate a subclass stores in `self._learning_rate`: this
        optimizer's learning-rate Variable set to `learning_rate`, or the schedule."""
        if callable(learning_rate) and not isinstance(learning_rate, Variable):
            self._schedule = learning_rate
            self._schedule_takes_step = True
            return learning_rate
        self._schedule = None
        if not isinstance(self._learning_rate, Variable):  # a schedule was built before
            self._learning_rate = Variable(jnp.float32(0.0), trainable=False,
                                           name=f"{self.name}/learning_rate")
        self._learning_rate.assign(jnp.float32(learning_rate))
        return self._learning_rate

    def _serialize_hyperparameter(self, value):
        """Keras 2.11: a schedule as its config dict, a Variable as a float, a zero-argument
        callable as its value."""
        from xlaflow.schedules import LearningRateSchedule, serialize_schedule
        if isinstance(value, LearningRateSchedule):
            return serialize_schedule(value)
        if isinstance(value, Variable):
            return float(value.numpy())
        if callable(value):
            return float(value())
        return value

    def _var_key(self, variable):
        """Keras 2.11: the key of `variable` in `_index_dict`."""
        return id(variable)

    def _get_variable_index(self, variable):
        """Keras 3's name: the position of `variable` in the built var_list."""
        return self._index_dict[self._var_key(variable)]

    def _build_index(self, variables):
        """What Keras' `Optimizer.build(var_list)` sets up before a subclass adds slots."""
        self._index_dict = {self._var_key(v): i for i, v in enumerate(variables)}
        self._state, self._slots, self._built_for = [], {}, list(variables)
        self._slot_owners = {}  # {id(slot): (its model Variable, its name)}: for checkpoints

    def add_variable_from_reference(self, model_variable, variable_name, shape=None,
                                    initial_value=None):
        """A slot Variable for `model_variable` (zeros of its shape and dtype, or
        `initial_value`), saved and updated with this optimizer's state."""
        if self._state is None:
            raise RuntimeError(f"{self.name}: call super().build(var_list) in build() before "
                               "add_variable_from_reference")
        if initial_value is None:
            with jax.ensure_compile_time_eval():  # built during the first trace of a step
                initial_value = jnp.zeros(model_variable.shape if shape is None else shape,
                                          model_variable.dtype)
        slot = Variable(initial_value, trainable=False,
                        name=f"{self.name}/{variable_name}/{model_variable.name}")
        self._state.append(slot)
        self._slot_owners[id(slot)] = (model_variable, variable_name)
        return slot

    def _build_once(self, variables):
        """build(variables), undone if it fails: a subclass's build that raises after
        super().build() must run again, whole, on the next call."""
        try:
            self.build(variables)
        except BaseException:
            self._state = self._slots = self._built_for = None
            self.__dict__.pop("_built", None)  # the guard Keras 2.11 subclasses keep
            raise

    def _apply_keras_form(self, grads, variables):
        """Keras 2.11's apply: clipped gradients, decoupled weight decay, the subclass's
        `update_step(gradient, variable)` per variable, constraints, then iterations + 1."""
        grads = self._clip([jnp.asarray(g, v.dtype) for g, v in zip(grads, variables)])
        if self.weight_decay:
            lr = self._current_learning_rate()
            for v in variables:
                v.assign(v.value - v.value * jnp.asarray(self.weight_decay * lr, v.dtype))
        for grad, variable in zip(grads, variables):
            self.update_step(grad, variable)
            constraint = getattr(variable, "constraint", None)
            if constraint is not None:
                from xlaflow.optimizer_base import _constrained
                variable.assign(_constrained(variable, constraint, variable.value))
        return self.iterations.assign_add(1)
