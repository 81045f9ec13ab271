"""Distributed datasets: what `experimental_distribute_dataset` and
`distribute_datasets_from_function` return, and the InputContext their functions get.

Iterating one yields TF's distributed values: each batch leaf is a PerReplicaBatch (the
global batch sharded over the replicas' devices, replica r's component its r-th block of
rows), so `strategy.run` gives each replica its component and nothing else is split.
With one replica the leaves are plain arrays, as TF yields plain tensors then. Keras
`fit` reads the same batches as plain global arrays (`global_batches`).
"""

from __future__ import annotations

import jax
import numpy as np

from xlaflow.distribute.values import PerReplicaBatch


def _check_host(what):
    """Refuse iteration inside a traced function: the loop or next() would run once, at
    trace time, and every call of the compiled function would replay the same batches."""
    from xlaflow.data.iterator import _trace_state_clean
    if not _trace_state_clean():
        raise NotImplementedError(
            f"a distributed dataset cannot be {what} inside a tf.function (TF compiles that "
            "into its graph; here input pipelines run on the host). Iterate in Python and "
            "call the compiled step on each distributed batch:\n\n"
            "    for x in dist_dataset:\n"
            "        total_loss += distributed_train_step(x)\n")


class InputContext:
    """What `distribute_datasets_from_function` tells the dataset function."""

    def __init__(self, num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=1):
        self.num_input_pipelines = num_input_pipelines
        self.input_pipeline_id = input_pipeline_id
        self.num_replicas_in_sync = num_replicas_in_sync

    def get_per_replica_batch_size(self, global_batch_size):
        if global_batch_size % self.num_replicas_in_sync:
            raise ValueError(f"global batch size {global_batch_size} is not divisible by "
                             f"{self.num_replicas_in_sync} replicas")
        return global_batch_size // self.num_replicas_in_sync


class DistributedDataset:
    """A distributed dataset: its batches placed on the strategy's devices, `join`
    consecutive ones concatenated into each (per-replica batches, one per replica)."""

    def __init__(self, strategy, dataset, join=1, distributed=True):
        self.strategy, self.dataset, self.join = strategy, dataset, join
        self.distributed = distributed  # False: plain global arrays (for Keras fit)

    @property
    def element_spec(self):
        return self.dataset.element_spec

    def __iter__(self):
        _check_host("iterated")
        return DistributedIterator(self)

    def global_batches(self):
        """The same batches as plain global arrays sharded along their first axis: what
        Keras fit and evaluate consume (one SPMD program over the global batch)."""
        return DistributedDataset(self.strategy, self.dataset, self.join, distributed=False)


class DistributedIterator:
    """TF's DistributedIterator: `next` (or `get_next()`) gives the next distributed batch."""

    def __init__(self, distributed, batches=None):
        self._distributed = distributed
        if batches is None:  # plain NumPy batches, sharded onto the devices next
            dataset = distributed.dataset
            batches = dataset.as_numpy_iterator() if hasattr(dataset, "as_numpy_iterator") \
                else iter(dataset)
        self._batches = batches

    def __iter__(self):
        return self

    def __next__(self):
        _check_host("advanced with next()")
        group = []
        for batch in self._batches:
            group.append(batch)
            if len(group) == self._distributed.join:
                break
        if not group:
            raise StopIteration
        batch = group[0] if len(group) == 1 else jax.tree_util.tree_map(
            lambda *parts: np.concatenate([np.asarray(p) for p in parts]), *group)
        strategy = self._distributed.strategy
        placed = strategy.distribute_batch(batch)
        replicas = strategy.num_replicas_in_sync
        if not self._distributed.distributed or replicas == 1:
            return placed
        # Leaves without a batch axis (a scalar per batch) were replicated: every replica
        # gets them whole, so they stay plain values.
        return jax.tree_util.tree_map(
            lambda leaf: PerReplicaBatch(leaf, replicas) if np.ndim(leaf) >= 1 else leaf,
            placed)

    def get_next(self):
        """TF's iterator.get_next(): the next distributed batch (StopIteration at the end)."""
        return next(self)

    def global_batches(self):
        """The rest of this iterator's batches as plain global arrays (for Keras fit)."""
        return DistributedIterator(self._distributed.global_batches(), self._batches)
