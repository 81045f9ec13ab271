"""TF's cross-device all-reduce choices, named so that ported programs get a clear error:
here XLA's SPMD partitioner chooses the collectives for the mesh, so there is no choice."""

from __future__ import annotations


class _CrossDeviceOps:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            f"tf.distribute.{type(self).__name__} is not supported: XLA chooses the "
            "collectives that reduce over the strategy's mesh (the result is the same "
            "all-reduce). Create the strategy without it: MirroredStrategy() "
            "(cross_device_ops=None)")


class HierarchicalCopyAllReduce(_CrossDeviceOps):
    """TF's hierarchical-copy all-reduce; refused (see the module docstring)."""


class NcclAllReduce(_CrossDeviceOps):
    """TF's NCCL all-reduce; refused (see the module docstring)."""


class ReductionToOneDevice(_CrossDeviceOps):
    """TF's reduce-on-one-device-then-broadcast; refused (see the module docstring)."""
