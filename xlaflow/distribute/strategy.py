"""Data parallelism as TF spells it, on JAX's SPMD compiler: MirroredStrategy.

A strategy is a 1-D `jax.sharding.Mesh` over its devices with the axis 'batch'. Variables
created in `strategy.scope()` are replicated over it; each global batch is sharded along
its first axis; XLA inserts the gradient all-reduce. `strategy.run(fn, args)` is therefore
one program over the global batch (not one call per replica): its results are already
global, and `strategy.reduce(op, value, axis=None)` returns them unchanged.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from xlaflow.distribute import placement

_stack = []


class ReduceOp:
    SUM = "SUM"
    MEAN = "MEAN"


def get_strategy():
    """The strategy whose scope is open, or the default (no distribution) strategy."""
    return _stack[-1] if _stack else _DEFAULT


def has_strategy():
    return bool(_stack)


def current():
    """The strategy whose scope is open, or None."""
    return _stack[-1] if _stack else None


class Strategy:
    """Base of the strategies: a mesh, a scope, and batch/variable shardings."""

    def __init__(self, devices):
        self.devices = list(devices)
        if not self.devices:
            raise ValueError("a strategy needs at least one device")
        self.mesh = Mesh(np.array(self.devices), ("batch",))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.batch_sharding = NamedSharding(self.mesh, PartitionSpec("batch"))

    @property
    def num_replicas_in_sync(self):
        return len(self.devices)

    @contextlib.contextmanager
    def scope(self):
        """Variables created inside are replicated on this strategy's devices, and models
        created or compiled inside train with it."""
        from xlaflow import variables
        _stack.append(self)
        previous, variables._placement = variables._placement, self._place_variable
        try:
            yield self
        finally:
            variables._placement = previous
            _stack.pop()

    def _place_variable(self, value):
        return jax.device_put(value, self.replicated)

    # -- batches ------------------------------------------------------------------------
    def distribute_batch(self, batch, axis=0):
        """`batch` (any structure of arrays sharing a leading batch size) sharded along
        `axis` over the devices. The size must be a multiple of num_replicas_in_sync."""
        spec = PartitionSpec(*([None] * axis), "batch")
        sharding = NamedSharding(self.mesh, spec)
        replicas = self.num_replicas_in_sync

        def place(leaf):
            shape = np.shape(leaf)
            if len(shape) <= axis:
                return jax.device_put(leaf, self.replicated)
            if shape[axis] % replicas:
                raise ValueError(
                    f"a global batch of {shape[axis]} examples cannot be split evenly over "
                    f"{replicas} replicas; use a batch size that is a multiple of "
                    f"{replicas} (and drop_remainder=True, or a dataset size that divides)")
            return jax.device_put(leaf, sharding)

        return jax.tree_util.tree_map(place, batch)

    def experimental_distribute_dataset(self, dataset):
        """Iterate `dataset`'s global batches already sharded over the devices."""
        return _Distributed(self, dataset)

    def distribute_datasets_from_function(self, dataset_fn):
        """TF's per-input-pipeline form; one process here, so one pipeline, sharded."""
        return _Distributed(self, dataset_fn(InputContext(1, 0, self.num_replicas_in_sync)))

    # -- running ------------------------------------------------------------------------
    def run(self, fn, args=(), kwargs=None):
        """Run `fn` once over the global batch (SPMD: the compiler splits the work)."""
        return fn(*args, **(kwargs or {}))

    def reduce(self, reduce_op, value, axis=None):
        """`value` reduced over `axis` (None: over replicas, which SPMD values already
        are: returned unchanged)."""
        if reduce_op not in (ReduceOp.SUM, ReduceOp.MEAN):
            raise ValueError(f"reduce_op must be ReduceOp.SUM or ReduceOp.MEAN; received "
                             f"{reduce_op!r}")
        if axis is None:
            return value
        op = jax.numpy.sum if reduce_op == ReduceOp.SUM else jax.numpy.mean
        return jax.tree_util.tree_map(lambda v: op(v, axis=axis), value)


class _Distributed:
    def __init__(self, strategy, dataset):
        self.strategy, self.dataset = strategy, dataset

    def __iter__(self):
        for batch in self.dataset:
            yield self.strategy.distribute_batch(batch)


class InputContext:
    """What `distribute_datasets_from_function` tells the dataset function."""

    def __init__(self, num_input_pipelines, input_pipeline_id, num_replicas_in_sync):
        self.num_input_pipelines = num_input_pipelines
        self.input_pipeline_id = input_pipeline_id
        self.num_replicas_in_sync = num_replicas_in_sync

    def get_per_replica_batch_size(self, global_batch_size):
        if global_batch_size % self.num_replicas_in_sync:
            raise ValueError(f"global batch size {global_batch_size} is not divisible by "
                             f"{self.num_replicas_in_sync} replicas")
        return global_batch_size // self.num_replicas_in_sync


class MirroredStrategy(Strategy):
    """Synchronous data parallelism over this process's devices (default: all of the
    default backend's devices). `devices` takes names ('gpu:0') or jax Devices."""

    def __init__(self, devices=None, cross_device_ops=None):
        if cross_device_ops is not None:
            raise NotImplementedError("cross_device_ops: XLA chooses the collectives; "
                                      "leave it None")
        super().__init__([placement.resolve(d) for d in devices] if devices is not None
                         else jax.local_devices())


class _DefaultStrategy(Strategy):
    """What get_strategy() returns outside any scope: one device, nothing sharded."""

    def __init__(self):
        self._devices = None

    @property
    def devices(self):
        return [jax.devices()[0]]

    @property
    def num_replicas_in_sync(self):
        return 1

    def scope(self):
        return contextlib.nullcontext(self)

    def distribute_batch(self, batch, axis=0):
        return batch

    def __getattr__(self, name):
        raise AttributeError(f"the default strategy has no {name!r}")


_DEFAULT = _DefaultStrategy()
