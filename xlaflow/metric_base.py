"""The Metric base class: state Variables (add_variable, Keras 2's add_weight) summed
across replicas, and the update_state/result/reset_state protocol subclasses fill in."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import initializers as initializers_lib
from xlaflow import losses as losses_lib
from xlaflow import mixed_precision
from xlaflow import random as random_lib
from xlaflow.module import Module
from xlaflow.variable_policies import VariableAggregation as Agg
from xlaflow.variable_policies import VariableSynchronization as Sync
from xlaflow.variables import Variable


@jax.jit
def div_no_nan(numerator, denominator):
    """TF's div_no_nan, as Keras' results divide: 0 where nothing was counted. (A small
    floor on the denominator underflows to 0 in float16, giving 0 / 0 = NaN.) Compiled
    whole: an eager result() would compile its four ops one by one for each shape."""
    safe = jnp.where(denominator == 0, 1, denominator)
    return jnp.where(denominator == 0, 0, numerator / safe).astype(
        jnp.result_type(numerator, denominator))


class Metric(Module):
    """Base class: subclasses create Variables in __init__ and define update_state/result."""

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name or losses_lib._snake(type(self).__name__))
        # compile() may rename the metric in its logs ('<output>_<name>', 'weighted_...');
        # its config keeps this name, so that a saved model compiles to the same logs again
        self._config_name = self.name
        # None: the variable dtype of the global policy, as Keras 2's Metric (a Layer):
        # floatx, or float32 under mixed_float16, whose accumulators stay float32
        self.dtype = jnp.dtype(dtype) if dtype is not None else \
            mixed_precision.global_policy().variable_dtype

    def add_variable(self, name, shape=(), dtype=None, initial=0):
        from xlaflow.distribute import replica_run
        variable = Variable(jnp.full(shape, initial, dtype or self.dtype), trainable=False,
                            name=f"{self.name}/{name}")
        # An accumulator: inside strategy.run the replicas' updates add up (TF's SUM).
        return replica_run.mark_sum_on_read(variable)

    def add_weight(self, name, shape=(), aggregation=None, synchronization=None,
                   initializer=None, dtype=None):
        """Keras 2's way for a Metric subclass to make a state Variable: a non-trainable
        accumulator, `initializer` (a name, an Initializer or a callable `(shape, dtype,
        key)`; None: zeros) giving its value, from the initializer's seed when it has one."""
        # replicas' updates are always summed on read (add_variable), Keras' default; TF's
        # other aggregations would silently differ, so they are refused
        if aggregation not in (None, Agg.SUM, "sum") or \
                synchronization not in (None, Sync.ON_READ, "on_read"):
            raise NotImplementedError(
                f"Metric.add_weight(aggregation={aggregation!r}, synchronization="
                f"{synchronization!r}): only the default (summed across replicas) is "
                f"supported; leave both arguments out")
        # None is zeros, the start reset_state returns to (Keras 2 passes None on to
        # Layer.add_weight, whose float default glorot_uniform is a random start that
        # only the first reset_state, at fit's first epoch, replaces)
        init = initializers_lib.Zeros() if initializer is None else \
            initializers_lib.get(initializer)
        dtype = jnp.dtype(dtype or self.dtype)
        seed = getattr(init, "seed", None)
        # a constant initializer (the usual one) takes no key from the global stream, so
        # making a metric does not shift the weights of layers seeded after it; a seeded
        # one draws from its seed, as a layer's weight does (layers/base.py)
        constant = (initializers_lib.Zeros, initializers_lib.Ones, initializers_lib.Constant)
        if seed is not None:
            key = jax.random.PRNGKey(seed)
        else:
            key = None if isinstance(init, constant) else random_lib.next_key()
        value = init(tuple(shape), dtype, key)
        variable = self.add_variable(name, shape, dtype)
        variable.assign(jnp.asarray(value, dtype))
        return variable

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must define result")

    def reset_state(self):
        for v in self.variables:
            v.assign(jnp.zeros(v.shape, v.dtype))

    def merge_state(self, metrics):
        """Keras 2's merge_state: add each of `metrics`' state Variables to this one's, as
        if this metric had seen their batches too (all are checked before any is added)."""
        metrics = list(metrics)
        mine = [(v.shape, v.dtype) for v in self.variables]
        for metric in metrics:
            theirs = [(v.shape, v.dtype) for v in getattr(metric, "variables", ())]
            if not isinstance(metric, Metric) or theirs != mine:
                raise ValueError(f"{type(self).__name__}.merge_state: metric {metric!r} is "
                                 f"not compatible with {self!r}; expected state Variables "
                                 f"of shapes and dtypes {mine}, received {theirs}")
        for metric in metrics:
            for variable, other in zip(self.variables, metric.variables):
                variable.assign_add(other.value)

    def reset_states(self):
        """Keras 2's older name for reset_state (TF 2.x tutorials call it); it calls
        reset_state, so a subclass that overrides reset_state is reset its own way."""
        return self.reset_state()

    def __call__(self, *args, **kwargs):
        """Update with one batch and return the result (as Keras' metric call)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": getattr(self, "_config_name", self.name), "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
