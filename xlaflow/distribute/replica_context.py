"""TF's replica and cross-replica contexts: which one the running code is in.

Inside `strategy.run` the function runs once per replica (a `jax.shard_map` over the
strategy's batch axis) in a ReplicaContext whose collectives are JAX's (psum, pmean,
axis_index). Inside `strategy.scope()` but outside `run` the code is in the cross-replica
context (get_replica_context() is None); outside any strategy, in the default replica
context of the default strategy (one replica).
"""

from __future__ import annotations

import contextlib
import threading

import jax
import jax.numpy as jnp

from xlaflow.distribute import strategy as strategy_lib

_local = threading.local()


def _running():
    """The innermost ReplicaContext of a `strategy.run` on this thread, or None."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def entered(context):
    """Makes `context` current while a replica function (or merge) runs."""
    stack = _local.__dict__.setdefault("stack", [])
    stack.append(context)
    try:
        yield context
    finally:
        stack.pop()


def _reduce_op(reduce_op):
    """ReduceOp.SUM / MEAN, also spelt 'sum' / 'mean' as TF accepts."""
    name = str(reduce_op).upper()
    if name not in (strategy_lib.ReduceOp.SUM, strategy_lib.ReduceOp.MEAN):
        raise ValueError(f"reduce_op must be ReduceOp.SUM or ReduceOp.MEAN; received "
                         f"{reduce_op!r}")
    return name


class ReplicaContext:
    """The code of one replica: its id, the replica count, and all-reduce across them.

    As in TF, gradients that a GradientTape takes inside `run` are this replica's own (each
    replica reads its own copy of a Variable), and an optimizer's `apply_gradients` inside
    `run` sums them over the replicas before its one update (see replica_run.py)."""

    def __init__(self, strategy, axis_name=None):
        self.strategy = strategy
        self._axis = axis_name  # None: the default context (a single replica)

    @property
    def num_replicas_in_sync(self):
        return self.strategy.num_replicas_in_sync

    @property
    def replica_id_in_sync_group(self):
        """This replica's index (an int32 tensor), 0 .. num_replicas_in_sync - 1."""
        if self._axis is None:
            return jnp.asarray(0, jnp.int32)
        return jax.lax.axis_index(self._axis).astype(jnp.int32)

    @property
    def devices(self):
        if self._axis is None:
            return tuple(self.strategy.devices)
        raise NotImplementedError(
            "ReplicaContext.devices inside strategy.run: one SPMD program runs every "
            "replica, so a replica has no Python-visible device; use "
            "replica_id_in_sync_group (a tensor) to tell replicas apart")

    def all_reduce(self, reduce_op, value, options=None):
        """`value` (a structure of tensors) summed or averaged over the replicas; every
        replica gets the result."""
        op = _reduce_op(reduce_op)
        if options is not None:
            raise NotImplementedError("all_reduce(options=...): XLA chooses the "
                                      "collective implementation; pass options=None")
        if self._axis is None:
            return jax.tree_util.tree_map(jnp.asarray, value)
        collective = jax.lax.psum if op == strategy_lib.ReduceOp.SUM else jax.lax.pmean
        return jax.tree_util.tree_map(lambda v: collective(v, self._axis), value)

    def merge_call(self, merge_fn, args=(), kwargs=None):
        raise NotImplementedError(
            "ReplicaContext.merge_call: replicas run as one SPMD program, not as threads "
            "that can pause for a cross-replica function. Combine values with "
            "ReplicaContext.all_reduce(ReduceOp.SUM or MEAN, value) inside strategy.run, "
            "or return them from strategy.run and use strategy.reduce / "
            "strategy.experimental_local_results outside it")

    def __repr__(self):
        return f"ReplicaContext(strategy={self.strategy!r})"


def get_replica_context():
    """TF's tf.distribute.get_replica_context(): the ReplicaContext inside strategy.run,
    None in a strategy's cross-replica context (its scope), else the default one."""
    running = _running()
    if running is not None:
        return running
    if strategy_lib.current() is not None:
        return None
    return ReplicaContext(strategy_lib.get_strategy())


def in_cross_replica_context():
    """True inside a strategy's scope but not inside its `run`."""
    return _running() is None and strategy_lib.current() is not None


def get_strategy():
    """The strategy of the running `run`, else of the open scope, else the default one."""
    running = _running()
    return running.strategy if running is not None else strategy_lib.get_strategy()


def has_strategy():
    """Whether a strategy (not the default one) is in use: inside its scope or its run."""
    return _running() is not None or strategy_lib.has_strategy()
