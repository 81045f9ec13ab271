"""Model parallelism as Keras 3 spells it: a device mesh, a LayoutMap, ModelParallelStrategy.

A LayoutMap maps regular expressions over Variable names ('dense_1/kernel') to
PartitionSpecs over a 2-D mesh ('batch', 'model'); Variables created in the strategy's scope
whose names match are sharded that way, the others replicated, and batches are split over
'batch' only. XLA's SPMD partitioner inserts the collectives the layouts need.
"""

from __future__ import annotations

import collections.abc
import re

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from xlaflow.distribute import placement
from xlaflow.distribute.strategy import Strategy


def make_mesh(shape, axis_names=("batch", "model"), devices=None):
    """A `jax.sharding.Mesh` of `shape` over `devices` (default: every device of every
    process), e.g. `make_mesh((2, 4))` for 2-way data and 4-way model parallelism."""
    shape = tuple(int(s) for s in shape)
    axis_names = tuple(axis_names)
    if len(shape) != len(axis_names):
        raise ValueError(f"make_mesh: shape {shape} and axis_names {axis_names} must have "
                         "the same length")
    devices = [placement.resolve(d) for d in devices] if devices is not None else \
        jax.devices()
    if int(np.prod(shape)) != len(devices):
        raise ValueError(f"make_mesh: a mesh of shape {shape} needs {int(np.prod(shape))} "
                         f"devices; received {len(devices)}")
    return Mesh(np.array(devices).reshape(shape), axis_names)


class LayoutMap(collections.abc.MutableMapping):
    """`layout_map[regex] = spec`: Variables whose name matches `regex` (re.search; an
    exact name wins over patterns) get `spec`, a PartitionSpec or a tuple of mesh axis
    names / None / tuples of names, one entry per leading dimension of the Variable.

    >>> mesh = make_mesh((1, 1), devices=jax.devices()[:1])
    >>> layout_map = LayoutMap(mesh)
    >>> layout_map["dense.*/kernel"] = (None, "model")
    >>> layout_map.spec_for("dense_1/kernel", (8, 4))
    P(None, 'model')
    """

    def __init__(self, mesh):
        if not isinstance(mesh, Mesh):
            raise TypeError(f"LayoutMap(mesh): expected a jax.sharding.Mesh (see "
                            f"xf.distribute.make_mesh); received {type(mesh).__name__}")
        self.mesh = mesh
        self._specs = {}

    def __getitem__(self, key):
        return self._specs[key]

    def __setitem__(self, key, spec):
        if not isinstance(key, str):
            raise TypeError(f"LayoutMap keys are regular expressions over Variable names; "
                            f"received {key!r}")
        try:
            re.compile(key)
        except re.error as error:
            raise ValueError(f"LayoutMap key {key!r} is not a valid regular expression: "
                             f"{error}") from None
        self._specs[key] = self._spec(key, spec)

    def __delitem__(self, key):
        del self._specs[key]

    def __iter__(self):
        return iter(self._specs)

    def __len__(self):
        return len(self._specs)

    def _spec(self, key, spec):
        entries = tuple(spec) if isinstance(spec, (PartitionSpec, tuple, list)) else None
        if entries is None:
            raise TypeError(f"LayoutMap[{key!r}]: expected a PartitionSpec or a tuple of mesh "
                            f"axis names/None; received {spec!r}")
        for entry in entries:
            for axis in (entry if isinstance(entry, tuple) else (entry,)):
                if axis is not None and axis not in self.mesh.axis_names:
                    raise ValueError(f"LayoutMap[{key!r}]: axis {axis!r} is not an axis of "
                                     f"the mesh {self.mesh.axis_names}")
        return PartitionSpec(*entries)

    def spec_for(self, name, shape):
        """The PartitionSpec for a Variable `name` of `shape`, or None (replicate it)."""
        if name is None or not self._specs:
            return None
        if name in self._specs:
            key = name
        else:
            keys = [k for k in self._specs if re.search(k, name)]
            if not keys:
                return None
            if len(keys) > 1:
                raise ValueError(f"Variable {name!r} matches several LayoutMap keys {keys}; "
                                 "make the patterns exclusive")
            key = keys[0]
        spec = self._specs[key]
        self._check_fits(key, name, spec, tuple(shape))
        return spec

    def _check_fits(self, key, name, spec, shape):
        if len(spec) > len(shape):
            raise ValueError(f"LayoutMap[{key!r}] = {spec} has {len(spec)} entries, but "
                             f"Variable {name!r} has shape {shape}")
        for dim, entry in zip(shape, spec):
            axes = entry if isinstance(entry, tuple) else (entry,)
            ways = int(np.prod([self.mesh.shape[a] for a in axes if a is not None]))
            if dim % ways:
                raise ValueError(f"LayoutMap[{key!r}] = {spec}: Variable {name!r} of shape "
                                 f"{shape} has a dimension of {dim}, not divisible by the "
                                 f"{ways} devices of {entry!r}")


class ModelParallelStrategy(Strategy):
    """Data and model parallelism on `layout_map.mesh`: Variables created in scope are
    laid out by the map (others replicated); batches are split over `batch_dim_name`.

    Keras 3's `ModelParallel(layout_map=..., batch_dim_name=...)` as a TF-style strategy."""

    def __init__(self, layout_map, batch_dim_name="batch"):
        if not isinstance(layout_map, LayoutMap):
            raise TypeError(f"ModelParallelStrategy(layout_map): expected an "
                            f"xf.distribute.LayoutMap; received {type(layout_map).__name__}")
        super().__init__(mesh=layout_map.mesh, batch_axis=batch_dim_name,
                         layout_map=layout_map)
