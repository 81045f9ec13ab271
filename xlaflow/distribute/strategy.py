"""Data parallelism as TF spells it, on JAX's SPMD compiler: MirroredStrategy.

A strategy is a `jax.sharding.Mesh` over its devices with a batch axis ('batch'). Variables
created in `strategy.scope()` are replicated over it (or laid out by a LayoutMap, see
layout.py); each global batch is sharded along its first axis; XLA inserts the gradient
all-reduce: `fit` and calls on distributed batches are one program over the global batch.
`strategy.run(fn, args)` is TF's: `fn` once per replica (replica_run.py, a shard_map),
each replica getting its component of distributed arguments (a distributed dataset's
batches, input.py) and every other argument whole; it returns PerReplica values
(values.py) for `reduce` and `experimental_local_results`.

When the mesh spans several processes (multihost.py), each process feeds only its own
shard of every global batch and reads back replicated values whole and batch-sharded
values as its own rows (`to_host`); `gather` collects every process's rows.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from xlaflow.distribute import input as input_lib
from xlaflow.distribute import placement
from xlaflow.distribute.input import InputContext

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
    """Base of the strategies: a mesh, a scope, and batch/variable shardings.

    Give either `devices` (a 1-D mesh with the axis 'batch') or a ready `mesh` whose
    `batch_axis` the batches are split over; `layout_map` places matching Variables."""

    def __init__(self, devices=None, *, mesh=None, batch_axis="batch", layout_map=None):
        if mesh is None:
            devices = list(devices or ())
            if not devices:
                raise ValueError("a strategy needs at least one device; received none")
            if len(set(devices)) != len(devices):
                raise ValueError(f"a strategy's devices must be distinct (as TF: no "
                                 f"duplicates allowed); received {devices}")
            mesh = Mesh(np.array(devices), ("batch",))
        if batch_axis not in mesh.axis_names:
            raise ValueError(f"batch_axis must be one of the mesh's axes {mesh.axis_names}; "
                             f"received {batch_axis!r}")
        self.mesh, self.batch_axis, self.layout_map = mesh, batch_axis, layout_map
        self.devices = list(mesh.devices.flat)
        self.replicated = NamedSharding(mesh, PartitionSpec())
        self.batch_sharding = NamedSharding(mesh, PartitionSpec(batch_axis))
        me = jax.process_index()
        self.multiprocess = any(d.process_index != me for d in self.devices)
        # How many slices of the batch this process's devices hold: its batch must split
        # into that many (1-D mesh: its local device count).
        batch_dim = mesh.axis_names.index(batch_axis)
        self._local_batch_slices = len({idx[batch_dim] for idx, d in np.ndenumerate(
            mesh.devices) if d.process_index == me})

    @property
    def num_replicas_in_sync(self):
        """Data-parallel replicas over all processes: the size of the batch axis."""
        return self.mesh.shape[self.batch_axis]

    @property
    def batch_divisor(self):
        """What every batch this process feeds must be a multiple of: num_replicas_in_sync
        with one process; with several, the slices of the batch axis on its own devices."""
        return self._local_batch_slices if self.multiprocess else self.num_replicas_in_sync

    @contextlib.contextmanager
    def scope(self):
        """Variables created inside are placed on this strategy's mesh (replicated unless
        the layout map says otherwise), and models created or compiled inside train with
        it."""
        from xlaflow import variables
        if _stack and _stack[-1] is not self:
            raise ValueError(
                "Mixing different strategies is not allowed: this strategy's scope was "
                f"opened inside another's ({_stack[-1]!r}); close that scope first")
        _stack.append(self)
        previous, variables._placement = variables._placement, self._place_variable
        try:
            yield self
        finally:
            variables._placement = previous
            _stack.pop()

    # -- variables ----------------------------------------------------------------------
    def _place_variable(self, value, name=None):
        """`value` put on the mesh: with the layout map's spec for the Variable's name, else
        kept where it is when already on this mesh (optimizer slots derived from sharded
        weights), else replicated. Across processes, process 0's value wins (as in TF)."""
        spec = self.layout_map.spec_for(name, np.shape(value)) if self.layout_map else None
        if spec is None and isinstance(value, jax.Array) and isinstance(
                value.sharding, NamedSharding) and value.sharding.mesh == self.mesh:
            return value
        sharding = self.replicated if spec is None else NamedSharding(self.mesh, spec)
        if not self.multiprocess:
            return jax.device_put(value, sharding)
        from xlaflow.distribute import multihost
        return multihost.place_from_process_zero(value, sharding)

    # -- batches ------------------------------------------------------------------------
    def distribute_batch(self, batch, axis=0):
        """`batch` (any structure of arrays sharing a leading batch size) sharded along
        `axis` over the batch axis. One process: the global batch, whose size must be a
        multiple of num_replicas_in_sync. Several: this process's own shard of it (leaves
        without that axis are replicated: every process must pass the same value).
        The result is plain global arrays, for one SPMD program over the global batch
        (fit's steps): `run` gives them whole to every replica; iterate a distributed
        dataset for batches that `run` splits."""
        spec = PartitionSpec(*([None] * axis), self.batch_axis)
        sharding = NamedSharding(self.mesh, spec)

        def place(leaf):
            if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
                return leaf  # already a global array over the processes
            shape = np.shape(leaf)
            if len(shape) <= axis:
                return self._put(leaf, self.replicated)
            self._check_even(shape[axis])
            return self._put(leaf, sharding)

        return jax.tree_util.tree_map(place, batch)

    def _put(self, leaf, sharding):
        if not self.multiprocess:
            return jax.device_put(leaf, sharding)
        # Each process holds its own rows; JAX stitches them into one global array.
        return jax.make_array_from_process_local_data(sharding, np.asarray(leaf))

    def __repr__(self):
        return f"{type(self).__name__}(devices={[str(d) for d in self.devices]})"

    def _check_even(self, size):
        if not self.multiprocess:
            if size % self.num_replicas_in_sync:
                replicas = self.num_replicas_in_sync
                raise ValueError(
                    f"a global batch of {size} examples cannot be split evenly over "
                    f"{replicas} replicas; use a batch size that is a multiple of "
                    f"{replicas} (and drop_remainder=True, or a dataset size that divides)")
        elif size % self.batch_divisor:
            local = self.batch_divisor
            raise ValueError(
                f"process {jax.process_index()}'s batch of {size} examples cannot be split "
                f"evenly over its {local} local replicas; each process feeds its own shard "
                f"of the global batch, so its batch size must be a multiple of {local}")

    def experimental_distribute_dataset(self, dataset, options=None):
        """Iterate `dataset`'s batches as distributed values (input.py): sharded over the
        replicas, which `run` splits (several processes: each iterates its own dataset,
        which yields its shard of each global batch)."""
        _refuse_options(options)
        return input_lib.DistributedDataset(self, dataset)

    def distribute_datasets_from_function(self, dataset_fn, options=None):
        """TF's per-input-pipeline form: one pipeline per process, told its index. As in
        TF the function batches by the per-replica size; each step joins one batch per
        local replica (consecutive batches) into the process's part of the global batch."""
        _refuse_options(options)
        processes = jax.process_count() if self.multiprocess else 1
        index = jax.process_index() if self.multiprocess else 0
        context = InputContext(processes, index, self.num_replicas_in_sync)
        return input_lib.DistributedDataset(self, dataset_fn(context),
                                            join=self.batch_divisor)

    # -- running ------------------------------------------------------------------------
    def run(self, fn, args=(), kwargs=None):
        """TF's `strategy.run`: `fn` once per replica (see replica_run.py), returning
        PerReplica values (plain values with one replica)."""
        from xlaflow.distribute import replica_run
        return replica_run.run(self, fn, args, kwargs or {})

    def reduce(self, reduce_op, value, axis=None):
        """`value` (a structure of PerReplica values, as `run` returns) reduced over the
        replicas, and first along `axis` when given."""
        from xlaflow.distribute import replica_context, values
        op = replica_context._reduce_op(reduce_op)
        return jax.tree_util.tree_map(
            lambda v: values.reduce(op, v, axis, self.num_replicas_in_sync), value,
            is_leaf=values.is_per_replica)

    def experimental_local_results(self, value):
        """The components of `value` that this process holds, as a tuple (one per local
        replica); a value that is not per-replica is its own only result."""
        from xlaflow.distribute import values
        return values.local_results(value)

    def experimental_distribute_values_from_function(self, value_fn):
        """A PerReplica value from `value_fn(ValueContext)`, called once per replica."""
        from xlaflow.distribute import values
        return values.from_function(self, value_fn)

    # -- reading back -------------------------------------------------------------------
    def to_host(self, value):
        """NumPy values of `value` (a structure of arrays) as this process sees them:
        replicated arrays whole; arrays sharded over processes as this process's part
        (for outputs of a distributed batch: the rows of the examples it fed, in order)."""
        if not self.multiprocess:
            return jax.tree_util.tree_map(np.asarray, value)
        from xlaflow.distribute import multihost
        return jax.tree_util.tree_map(multihost.host_local, value)

    def gather(self, value, axis=0):
        """TF's `strategy.gather`: every process's part concatenated along `axis`, on every
        process. A global array comes back whole; a host-local one (e.g. `to_host`'s
        rows) is joined with the other processes' in process order."""
        from xlaflow.distribute import values
        # TF takes a structure of values: each PerReplica in it is one leaf (flattening it
        # would hand its stacked components, not their join, to the host copy)
        return jax.tree_util.tree_map(lambda v: self._gather_one(v, axis), value,
                                      is_leaf=values.is_per_replica)

    def _gather_one(self, value, axis):
        from xlaflow.distribute import values
        per_replica = isinstance(value, values.PerReplica)
        if per_replica:  # TF: the replicas' components, joined
            value = values.gather(value, axis)
        if not self.multiprocess:
            return value if per_replica else np.asarray(value)
        from xlaflow.distribute import multihost
        return multihost.allgather(value, axis)


def _refuse_options(options):
    if options is not None:
        raise NotImplementedError(
            "tf.distribute.InputOptions are not supported: batches are sharded along their "
            "first axis over the strategy's batch axis, each process feeding its own rows; "
            "pass options=None")


class MirroredStrategy(Strategy):
    """Synchronous data parallelism over this process's devices (default: all of the
    default backend's devices). `devices` takes names ('gpu:0') or jax Devices."""

    def __init__(self, devices=None, cross_device_ops=None):
        if cross_device_ops is not None:
            raise NotImplementedError("cross_device_ops: XLA chooses the collectives; "
                                      "leave it None")
        super().__init__([placement.resolve(d) for d in devices] if devices is not None
                         else jax.local_devices())


class OneDeviceStrategy(Strategy):
    """TF's OneDeviceStrategy: one replica on `device` ('gpu:0', a jax Device): its
    Variables and batches are placed there."""

    def __init__(self, device):
        super().__init__([placement.resolve(device)])


class _DefaultStrategy(Strategy):
    """What get_strategy() returns outside any scope: one device, nothing sharded."""

    multiprocess = False

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

    def run(self, fn, args=(), kwargs=None):
        """As TF's default strategy: `fn` called once, in the default replica context."""
        return fn(*args, **(kwargs or {}))

    def experimental_distribute_values_from_function(self, value_fn):
        from xlaflow.distribute import values
        return value_fn(values.ValueContext())

    def to_host(self, value):
        return jax.tree_util.tree_map(np.asarray, value)

    def gather(self, value, axis=0):
        return jax.tree_util.tree_map(np.asarray, value)

    def __getattr__(self, name):
        raise AttributeError(f"the default strategy has no {name!r}")


_DEFAULT = _DefaultStrategy()
