"""PerReplica: TF's distributed value, one component per replica of a strategy.

The components are stacked along a new leading axis into one array sharded over the
strategy's batch axis (replica r's value lives on replica r's devices), so a PerReplica
passes through xf.function and jax transformations as a pytree of one array. A
distributed dataset's batches are PerReplicaBatch values: the global batch itself,
sharded along its first axis, replica r's component being its r-th block of rows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


@jax.tree_util.register_pytree_node_class
class PerReplica:
    """Per-replica values (what `strategy.run` returns): `stacked[r]` is replica r's."""

    def __init__(self, stacked):
        self.stacked = stacked

    @property
    def values(self):
        """TF's `PerReplica.values`: the components, replica 0 first."""
        return tuple(self.stacked[r] for r in range(self.stacked.shape[0]))

    def tree_flatten(self):
        return (self.stacked,), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0])

    def __array__(self, dtype=None, copy=None):
        # As in TF, a distributed value is not one tensor: say what to do instead of
        # letting NumPy make an object array of it, or jax.numpy refuse it by type (a
        # model called on a distributed batch outside strategy.run lands here).
        raise TypeError(
            f"a {type(self).__name__} value has one component per replica and is not one "
            "array; pass it to strategy.run (each replica gets its component), or read it "
            "with strategy.experimental_local_results, strategy.gather or strategy.reduce")

    def __jax_array__(self):
        self.__array__()

    def __repr__(self):
        return f"PerReplica({{{', '.join(f'{r}: {v}' for r, v in enumerate(self.values))}}})"


@jax.tree_util.register_pytree_node_class
class PerReplicaBatch(PerReplica):
    """A distributed dataset's batch as TF's PerReplica: the global batch, one array
    sharded along its first axis over the replicas; replica r's component is its r-th
    block of rows (the shard already on its devices), so nothing is copied to split it."""

    def __init__(self, batch, num_replicas):
        self.batch, self.num_replicas = batch, num_replicas

    @property
    def stacked(self):
        """The components stacked on a new leading axis, as PerReplica holds them."""
        shape = tuple(self.batch.shape)
        return jnp.reshape(self.batch,
                           (self.num_replicas, shape[0] // self.num_replicas) + shape[1:])

    def tree_flatten(self):
        return (self.batch,), self.num_replicas

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0], aux)


def is_per_replica(value):
    return isinstance(value, PerReplica)


def local_results(value):
    """TF's `experimental_local_results`: the components this process holds, as a tuple
    (replica order); a structure holding per-replica values gives one structure per replica
    (each with that replica's components, other leaves as they are), as TF's does; a value
    that holds none is its own single result."""
    if not isinstance(value, PerReplica):
        leaves, tree = jax.tree_util.tree_flatten(value, is_leaf=is_per_replica)
        parts = [local_results(x) if is_per_replica(x) else None for x in leaves]
        counts = {len(p) for p in parts if p is not None}
        if not counts:
            return (value,)
        if len(counts) > 1:
            raise ValueError(f"experimental_local_results: the per-replica values in this "
                             f"structure have different numbers of local results: "
                             f"{sorted(counts)}")
        return tuple(jax.tree_util.tree_unflatten(
            tree, [x if p is None else p[r] for x, p in zip(leaves, parts)])
            for r in range(counts.pop()))
    if isinstance(value, PerReplicaBatch):
        return _batch_components(value)
    stacked = value.stacked
    if isinstance(stacked, jax.Array) and not isinstance(stacked, jax.core.Tracer) \
            and not stacked.is_fully_addressable:
        # Several processes: only this process's replicas, each on its own devices.
        shards = {s.index[0].start: s.data[0] for s in stacked.addressable_shards}
        return tuple(shards[r] for r in sorted(shards))
    return value.values


def _batch_components(value):
    """A PerReplicaBatch's components held by this process: the shards of the global
    batch, one per replica (on a mesh with a model axis several devices hold the same
    rows: one of them stands for the replica)."""
    batch = value.batch
    rows = batch.shape[0] // value.num_replicas
    if isinstance(batch, jax.Array) and not isinstance(batch, jax.core.Tracer):
        shards = {s.index[0].start or 0: s.data for s in batch.addressable_shards}
        if all(data.shape[0] == rows for data in shards.values()):
            return tuple(shards[start] for start in sorted(shards))
        if not batch.is_fully_addressable:
            raise ValueError(
                f"experimental_local_results: a distributed batch of {batch.shape[0]} rows "
                f"over {value.num_replicas} replicas must be sharded in blocks of {rows} "
                f"rows; received shards of {sorted({d.shape[0] for d in shards.values()})}")
    return tuple(batch[r * rows:(r + 1) * rows] for r in range(value.num_replicas))


def reduce(reduce_op, value, axis, num_replicas):
    """TF's `strategy.reduce` of one value: per-replica values are summed (or averaged)
    over the replicas, and first along `axis` when given; MEAN with an axis is the mean
    over every replica's elements along it."""
    if isinstance(value, PerReplica):
        stacked = value.stacked
        if axis is None:
            return jnp.sum(stacked, 0) if reduce_op == "SUM" else jnp.mean(stacked, 0)
        along = _axis(axis, stacked.ndim - 1) + 1  # +1: past the replica axis
        if reduce_op == "SUM":
            return jnp.sum(stacked, axis=(0, along))
        return jnp.sum(stacked, axis=(0, along)) / (stacked.shape[0] * stacked.shape[along])
    if axis is not None:
        # A value that is not per-replica is one global value (e.g. a model's outputs on
        # a distributed batch): reduced along its axis.
        op = jnp.sum if reduce_op == "SUM" else jnp.mean
        return op(value, axis=_axis(axis, jnp.ndim(value)))
    if reduce_op == "SUM" and num_replicas > 1:
        # As TF's reduce_non_distributed_value: summing N copies of one value is almost
        # always a mistake (a value computed outside `run`), so it is refused.
        raise ValueError(
            f"strategy.reduce(SUM, value, axis=None): value is not a PerReplica value (it "
            f"was not returned by strategy.run), so it cannot be summed over "
            f"{num_replicas} replicas; received {type(value).__name__}. Reduce what "
            f"strategy.run returns, or use ReduceOp.MEAN (which returns it unchanged)")
    return value


def _axis(axis, ndim):
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"axis must be an int in [{-ndim}, {ndim}) for a per-replica value "
                         f"of rank {ndim}; received {axis!r}")
    return int(axis) % ndim


def gather(value, axis):
    """TF's `strategy.gather` of a per-replica value: its components concatenated along
    `axis`, replica 0 first."""
    if isinstance(value, PerReplicaBatch) and _axis(axis, jnp.ndim(value.batch)) == 0:
        return value.batch  # the components are its blocks of rows, in replica order
    stacked = value.stacked
    axis = _axis(axis, stacked.ndim - 1)
    moved = jnp.moveaxis(stacked, 0, axis)  # (..., replicas, rows, ...) -> join the two
    shape = stacked.shape[1:]
    return moved.reshape(shape[:axis] + (stacked.shape[0] * shape[axis],) + shape[axis + 1:])


class ValueContext:
    """What `experimental_distribute_values_from_function` tells the value function."""

    def __init__(self, replica_id_in_sync_group=0, num_replicas_in_sync=1):
        self.replica_id_in_sync_group = replica_id_in_sync_group
        self.num_replicas_in_sync = num_replicas_in_sync


def from_function(strategy, value_fn):
    """A PerReplica value from `value_fn(ValueContext)`, called once per replica held by
    this process and placed on that replica's devices."""
    mesh, batch_dim = strategy.mesh, strategy.mesh.axis_names.index(strategy.batch_axis)
    replicas = strategy.num_replicas_in_sync
    computed, per_device = {}, []
    me = jax.process_index()
    devices = [(idx[batch_dim], d) for idx, d in np.ndenumerate(mesh.devices)
               if d.process_index == me]
    for replica, _ in devices:
        if replica not in computed:
            computed[replica] = np.asarray(value_fn(ValueContext(replica, replicas)))
    shapes = {(v.shape, v.dtype) for v in computed.values()}
    if len(shapes) != 1:
        raise ValueError(
            "experimental_distribute_values_from_function: value_fn must return the same "
            f"shape and dtype on every replica (they are stacked into one array); received "
            f"{sorted((str(s), str(d)) for s, d in shapes)}")
    (shape, _), = shapes
    for replica, device in devices:
        per_device.append(jax.device_put(computed[replica][None], device))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(
        strategy.batch_axis))
    return PerReplica(jax.make_array_from_single_device_arrays(
        (replicas,) + shape, sharding, per_device))
