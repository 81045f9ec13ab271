"""`strategy.run(fn, args)` as TF runs it: `fn` once per replica, results per replica.

The replicas are one `jax.shard_map` over the strategy's batch axis. As in TF, only
distributed values are split: a distributed dataset's batch (PerReplicaBatch) gives each
replica its block of rows, a PerReplica value (from `run`, or
`experimental_distribute_values_from_function`) its own component. Every other argument
(tensors, NumPy arrays, Python values), and everything `fn` closes over, goes whole to
every replica.
Each replica reads a float Variable as its own copy (as TF's MirroredVariable gives each
replica its component), so gradients taken inside `fn` are that replica's own; an
optimizer's `apply_gradients` inside `fn` sums them over the replicas and updates from the
replicated values, once (`apply_in_cross_replica`). What `fn` assigns comes back out of
the shard_map and is written to the Variables by the enclosing xf.function (an eager call
is compiled as one). A Variable assigned different values on different replicas is merged
by the Variable's declared aggregation, as TF does: SUM adds up the replicas' updates
(metric accumulators count as SUM), MEAN averages the values, ONLY_FIRST_REPLICA keeps
replica 0's; undeclared non-trainable Variables (BatchNormalization's moving statistics)
are averaged, undeclared trainable ones are refused.
"""

from __future__ import annotations

import collections
import weakref

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from xlaflow import _lifting
from xlaflow.distribute import replica_context
from xlaflow.distribute.values import PerReplica, PerReplicaBatch
from xlaflow.variable_policies import VariableAggregation

_SUM_ON_READ = weakref.WeakValueDictionary()  # id -> Variable (== is elementwise)
# Eager run() compiles fn; the compiled programs of this many functions are kept (a
# lambda made per call would otherwise keep every program and closure alive forever).
_EAGER_CACHE_SIZE = 8


def mark_sum_on_read(variable):
    """Declare `variable` an accumulator (a metric's total or count): per-replica updates
    inside `run` are summed, as TF's SUM-aggregated on-read variables are."""
    _SUM_ON_READ[id(variable)] = variable
    return variable


def run(strategy, fn, args, kwargs):
    from xlaflow.autograph import api as autograph
    if _lifting.current() is None:
        cache = strategy.__dict__.setdefault("_run_functions", collections.OrderedDict())
        if fn in cache:
            cache.move_to_end(fn)
        else:
            from xlaflow.function import function
            converted = autograph.convert(fn)
            cache[fn] = function(
                lambda a, k: run_traced(strategy, converted, a, k), autograph=False)
            while len(cache) > _EAGER_CACHE_SIZE:
                cache.popitem(last=False)
        return cache[fn](tuple(args), dict(kwargs))
    return run_traced(strategy, autograph.convert(fn), args, kwargs)


def run_traced(strategy, fn, args, kwargs):
    """`fn` per replica inside an enclosing trace (an xf.function's)."""
    axis, replicas = strategy.batch_axis, strategy.num_replicas_in_sync
    leaves, tree = jax.tree_util.tree_flatten((tuple(args), dict(kwargs)),
                                              is_leaf=lambda v: isinstance(v, PerReplica))
    slots, inputs = [], []  # slots: for each leaf, (index into inputs, stacked) or None
    for position, leaf in enumerate(leaves):
        if isinstance(leaf, PerReplicaBatch):
            # A distributed dataset's batch: each replica gets its block of rows.
            if leaf.num_replicas != replicas or jnp.ndim(leaf.batch) == 0 \
                    or leaf.batch.shape[0] % replicas:
                raise ValueError(
                    f"strategy.run: argument leaf {position} is a distributed batch of "
                    f"shape {tuple(jnp.shape(leaf.batch))} over {leaf.num_replicas} "
                    f"replicas; this strategy runs {replicas} replicas: iterate this "
                    f"strategy's experimental_distribute_dataset for its batches")
            slots.append((len(inputs), False))
            inputs.append(leaf.batch)
        elif isinstance(leaf, PerReplica):
            if jnp.ndim(leaf.stacked) == 0 or leaf.stacked.shape[0] != replicas:
                raise ValueError(
                    f"strategy.run: argument leaf {position} is a PerReplica value whose "
                    f"stacked components have shape {tuple(jnp.shape(leaf.stacked))} "
                    f"(one row per replica); this strategy runs {replicas} "
                    f"replicas: make it with this strategy's experimental_distribute_"
                    f"values_from_function or take it from this strategy's run")
            slots.append((len(inputs), True))
            inputs.append(leaf.stacked)
        else:
            # As TF: a value that is not distributed goes whole to every replica.
            slots.append(None)
    found = {}  # what the trace of the body saw: outputs, writes, which writes vary

    def body(parts, stacked_writes, manual=True):
        local = [leaf if slot is None else (parts[slot[0]][0] if slot[1] else parts[slot[0]])
                 for leaf, slot in zip(leaves, slots)]
        call_args, call_kwargs = jax.tree_util.tree_unflatten(tree, local)
        # Under vmap (the shapes-only first pass) there is no manual axis to vary over.
        overrides = _ReplicaVariables(axis if manual else None)
        # Checks inside one replica raise there: their tokens cannot leave the shard_map.
        overrides.check_tokens, overrides.raise_checks = [], True
        with overrides, replica_context.entered(
                replica_context.ReplicaContext(strategy, axis)):
            out = fn(*call_args, **call_kwargs)
        out_leaves, found["out_tree"] = jax.tree_util.tree_flatten(out)
        written = list(overrides.assigned.values())
        new = [overrides.written_value(v) for v in written]
        found["written"] = written
        # A SUM Variable's update counts once per replica even when every replica made
        # the same one (a count of examples), so it always comes back per replica.
        found["varying"] = [axis in getattr(jax.typeof(v), "manual_axis_type",
                                            _NO_AXES).varying
                            or _aggregation(var) is VariableAggregation.SUM
                            for var, v in zip(written, new)]
        writes = [v[None] if stacked_writes or vary else v
                  for v, vary in zip(new, found["varying"])]
        return [jnp.asarray(o)[None] for o in out_leaves], writes

    def mapped(stacked_writes):
        def out_specs():
            # Only known after a first trace: replicated writes come back whole.
            varying = found.get("varying")
            writes = [PartitionSpec(axis) if stacked_writes or vary else PartitionSpec()
                      for vary in (varying or [])]
            return PartitionSpec(axis), writes if varying is not None else PartitionSpec(axis)
        return jax.shard_map(lambda parts: body(parts, stacked_writes), mesh=strategy.mesh,
                             in_specs=(PartitionSpec(axis),), out_specs=out_specs(),
                             axis_names=frozenset({axis}))

    # Shapes only, first under vmap (no manual mesh yet): Variables that fn creates (an
    # optimizer's slots, on its first step) are made there, as TF makes them outside the
    # replicas; then under shard_map, to learn which writes differ per replica.
    jax.eval_shape(jax.vmap(lambda parts: body(parts, True, False), axis_name=axis,
                            axis_size=replicas), [_per_replica(x, replicas, stacked)
                                                  for x, (_, stacked) in zip(
                                                      inputs, [s for s in slots if s])])
    jax.eval_shape(mapped(True), inputs)
    outs, writes = mapped(False)(inputs)
    for variable, value, vary in zip(found["written"], writes, found["varying"]):
        variable.assign(_merge(variable, value) if vary else value)
    stacked = [PerReplica(o) for o in outs]
    if replicas == 1:  # as TF: one replica's results are plain values
        stacked = [o.stacked[0] for o in stacked]
    return jax.tree_util.tree_unflatten(found["out_tree"], stacked)


class _NO_AXES:  # under vmap: no manual axes to ask about
    varying = frozenset()


def _varying(value, axis):
    """`value` as a per-replica value (varying over `axis`): JAX then differentiates with
    respect to each replica's copy instead of summing the gradient over the replicas."""
    if axis is None or axis in getattr(jax.typeof(value), "manual_axis_type", _NO_AXES).varying:
        return value
    return jax.lax.pcast(value, axis, to="varying")


def _is_float(var):
    return jnp.issubdtype(var.dtype, jnp.inexact)


class _ReplicaVariables(_lifting.OverrideContext):
    """The Variables as one replica sees them. A float Variable reads as the replica's own
    copy (a value varying over the replicas), so a GradientTape or xf.value_and_grad in
    `fn` gives this replica's gradient, as TF does. Inside `cross_replica()` (an optimizer
    applying all-reduced gradients) reads are the replicated values: the update is then
    the same on every replica and is written once, as TF's merge_call writes it. With
    `axis` None (a shapes-only pass under vmap) the values are left as they are."""

    def __init__(self, axis):
        super().__init__([], [])
        self.axis = axis
        self.cross = False
        self.written = {}  # id -> the value assigned here, as it was assigned
        # Copies made now, in `values`: a tape started in `fn` marks the Variables the
        # enclosing trace knows from there, so its gradients are per replica too.
        from xlaflow._tape_marks import _known
        for var, value in _known(self.parent):
            if _is_float(var):
                self.values[id(var)] = _varying(value, axis)

    def read(self, var):
        key = id(var)
        value = self.parent.read(var)  # the enclosing trace records the read
        if self.cross:
            return self.written.get(key, value)
        if key in self.values:
            return self.values[key]
        return _varying(value, self.axis) if _is_float(var) else value

    def write(self, var, value):
        super().write(var, _varying(value, self.axis) if _is_float(var) else value)
        self.written[id(var)] = value

    def written_value(self, var):
        return self.written[id(var)]


def _replica_variables():
    """The innermost running replica's view of the Variables, or None outside `run`."""
    ctx = _lifting.current()
    while ctx is not None and not isinstance(ctx, _ReplicaVariables):
        ctx = getattr(ctx, "parent", None)
    return ctx


def apply_in_cross_replica(apply, grads, variables, aggregate=True):
    """`apply(grads, variables)` as TF's `optimizer.apply_gradients` runs in a replica
    context: the gradients summed over the replicas (unless `aggregate` is False, the
    caller having all-reduced them), then one update from the replicated values. Outside
    `strategy.run` it is `apply(grads, variables)`."""
    view = _replica_variables()
    if view is None or view.axis is None:
        return apply(grads, variables)
    if aggregate:
        grads = [jax.lax.psum(_varying(jnp.asarray(g), view.axis), view.axis)
                 for g in grads]
    view.cross = True
    try:
        return apply(grads, variables)
    finally:
        view.cross = False


def _per_replica(x, replicas, stacked):
    """The shape of an input under vmap: a leading replica axis, then what one replica
    gets inside the shard_map (its row of a stacked value, its rows of a batch)."""
    rows = 1 if stacked else x.shape[0] // replicas
    return jax.ShapeDtypeStruct((replicas, rows) + tuple(x.shape[1:]), x.dtype)


def _aggregation(variable):
    """The Variable's declared aggregation; a marked accumulator's is SUM."""
    if _SUM_ON_READ.get(id(variable)) is variable:
        return VariableAggregation.SUM
    return getattr(variable, "aggregation", VariableAggregation.NONE)


def _merge(variable, stacked):
    """One value for a Variable that each replica assigned differently, by its aggregation
    (TF's rules); an undeclared trainable Variable must agree across replicas, as in TF."""
    aggregation = _aggregation(variable)
    old = variable.value
    if aggregation is VariableAggregation.SUM:  # the replicas' updates, added up
        return old + jnp.sum(stacked - old[None], axis=0).astype(old.dtype)
    if aggregation is VariableAggregation.ONLY_FIRST_REPLICA:
        return stacked[0]
    if aggregation is VariableAggregation.NONE and variable.trainable:
        raise ValueError(
            f"strategy.run: Variable {variable.name!r} is trainable and was assigned a "
            "different value on each replica; TF requires an aggregation for that. Create "
            "it with aggregation=xf.VariableAggregation.MEAN (or SUM, ONLY_FIRST_REPLICA), "
            "update it with an optimizer's apply_gradients (which sums the replicas' "
            "gradients), or assign it ReplicaContext.all_reduce(...) results computed "
            "without reading it")
    return jnp.mean(stacked, axis=0).astype(stacked.dtype)  # MEAN; NONE, non-trainable
