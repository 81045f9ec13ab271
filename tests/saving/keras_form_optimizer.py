"""A user's optimizer in Keras 2.11's form, for the tests of how its slots are saved."""

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras.saving import register_serializable


@register_serializable(package="tests")
class SlotPairingMomentum(keras.optimizers.Optimizer):
    """m = 0.9 m + g; w -= lr m, its slots made in build by add_variable_from_reference
    (each named after its variable, as Keras names them)."""

    def __init__(self, learning_rate=0.05, name="SlotPairingMomentum", **kwargs):
        super().__init__(name=name, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)

    def build(self, var_list):
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self.moments = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._built = True

    def update_step(self, gradient, variable):
        m = self.moments[self._get_variable_index(variable)]
        m.assign(0.9 * m + gradient)
        variable.assign_sub(xf.cast(self.learning_rate, variable.dtype) * m)

    def moment_of(self, variable):
        """The slot of `variable` (the tests' oracle reads it the subclass's own way)."""
        return self.moments[self._get_variable_index(variable)]
