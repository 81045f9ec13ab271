"""Checks that a pass's elements agree: each against the first (`check_like`, `Template`,
as map's outputs must), or a generator's output against its output_signature (`conform`)."""

from __future__ import annotations

import numpy as np

from xlaflow.data import ragged_elements, sparse_elements
from xlaflow.data.structure import (
    _NODES,
    _kind,
    _lossless_bytes,
    describe,
    flatten,
    is_flat_tuple,
    leaf_dtype,
    leaf_kind,
    paths,
    same_dtype,
    signature,
    sorted_keys,
    where,
)
from xlaflow.ragged_spec import RaggedTensorSpec
from xlaflow.ragged_tensor import RaggedTensor
from xlaflow.sparse_tensor import SparseTensorSpec


def check_like(element, reference, what, index):
    """Raise unless `element` has `reference`'s structure, dtypes and ranks (sizes may vary).

    Used where the first element of a pass fixes what the others must look like (map).
    """
    if signature(element) != signature(reference):
        raise TypeError(
            f"{what}: element {index} has structure {describe(element)} but the first element "
            f"had {describe(reference)}; every element must have the same structure")
    for path, have, want in zip(paths(element), flatten(element), flatten(reference)):
        if leaf_kind(have) != leaf_kind(want):
            raise TypeError(
                f"{what}: element {index}{where(path)} is {leaf_kind(have)} but the first "
                f"element's is {leaf_kind(want)}; every element must have the same component "
                "types")
        if not same_dtype(leaf_dtype(have), leaf_dtype(want)):
            raise TypeError(
                f"{what}: element {index}{where(path)} has dtype "
                f"{np.dtype(leaf_dtype(have)).name} but the first element's has "
                f"{np.dtype(leaf_dtype(want)).name}; every element must have the same dtypes "
                "(cast inside the function)")
        if type(have) is RaggedTensor and have.ragged_rank != want.ragged_rank:
            raise ValueError(
                f"{what}: element {index}{where(path)} has ragged_rank {have.ragged_rank} but "
                f"the first element's has {want.ragged_rank}; ragged ranks must agree")
        if np.ndim(have) != np.ndim(want):
            raise ValueError(
                f"{what}: element {index}{where(path)} has shape {np.shape(have)} (rank "
                f"{np.ndim(have)}) but the first element's has shape {np.shape(want)} (rank "
                f"{np.ndim(want)}); ranks must agree, only sizes may vary")


def conform(value, spec, what, index):
    """`value` converted to `spec`'s structure and dtypes, or an error naming `index`.

    Used for generator output: Python values take the spec's dtype (as TF converts them);
    arrays may be cast only within their kind (float64 -> float32), never across kinds.
    """
    def walk(v, s, path):
        if isinstance(s, dict):
            if not isinstance(v, dict) or set(v) != set(s):
                raise _mismatch(v, s, path)
            return type(s)((k, walk(v[k], s[k], f"{path}[{k!r}]")) for k in s)
        if isinstance(s, tuple):
            # A list yielded where the signature has a tuple is read as that tuple.
            if not isinstance(v, (tuple, list)) or len(v) != len(s):
                raise _mismatch(v, s, path)
            items = [walk(c, cs, f"{path}[{i}]") for i, (c, cs) in enumerate(zip(v, s))]
            return type(s)(*items) if hasattr(s, "_fields") else tuple(items)
        if isinstance(s, SparseTensorSpec):
            return sparse_elements.conform(v, s, f"{what}: element {index}{where(path)}")
        if isinstance(s, RaggedTensorSpec):
            return ragged_elements.conform(v, s, f"{what}: element {index}{where(path)}")
        return leaf(v, s, path)

    def leaf(v, s, path):
        # A tuple or list where the signature has one TensorSpec is that tensor's value,
        # as TF converts it (the performance guide yields `(sample_idx,)` for shape (1,)).
        if isinstance(v, dict) or (isinstance(v, (tuple, list)) and any(
                isinstance(c, dict) for c in v)):
            raise _mismatch(v, s, path)
        if type(v) is bytes and s.dtype.kind in "USO":
            # binary data (a serialized Example) kept whole: NumPy's bytes dtype would
            # drop its trailing NUL bytes, so it is carried in a 0-d object array
            arr = np.empty((), dtype=object)
            arr[()] = v
            if not s.shape_compatible(()):
                raise ValueError(f"{what}: element {index}{where(path)} is one string where "
                                 f"the signature expects {s}")
            return arr
        if hasattr(v, "dtype") or s.dtype.kind in "USO":
            # Strings keep their own width; typed values keep their dtype unless it is the
            # same kind (float64 -> float32 as TF casts), never across kinds (float -> int
            # would truncate silently).
            arr = np.asarray(v)
            if s.dtype.kind in "USO" and arr.dtype.kind in "USO":
                # str, bytes, np.bytes_: all TF's tf.string; Python bytes stay whole
                if arr.dtype.kind == "S" and not hasattr(v, "dtype"):
                    arr = _lossless_bytes(v, arr)
                elif arr is v:
                    arr = arr.copy()
            elif not same_dtype(arr.dtype, s.dtype):
                if _kind(arr.dtype) != _kind(s.dtype):
                    raise TypeError(
                        f"{what}: element {index}{where(path)} has dtype {arr.dtype.name} "
                        f"where the signature expects {s.dtype.name}: {s}")
                arr = arr.astype(s.dtype)  # a new array already
            elif arr is v:  # the caller's own array (a generator may refill it): a snapshot
                arr = arr.copy()
        else:
            try:
                arr = np.asarray(v, dtype=s.dtype)
            except (TypeError, ValueError) as e:
                raise TypeError(f"{what}: element {index}{where(path)} ({v!r:.60}) cannot be "
                                f"converted to {s.dtype.name}: {s}") from e
        if not s.shape_compatible(arr.shape):
            raise ValueError(
                f"{what}: element {index}{where(path)} has shape {arr.shape} where the "
                f"signature expects {s} (None dimensions accept any size)")
        return arr[()] if arr.ndim == 0 else arr

    def _mismatch(v, s, path):
        return TypeError(
            f"{what}: element {index}{where(path)} does not match the signature's structure: "
            f"expected {describe(s)}, received {type(v).__name__} {v!r:.80}")

    return walk(value, spec, "")


class Template:
    """The first element of a pass, against which the others are checked (`check_like`)
    with a fast path: one dtype and rank comparison per leaf when all is well."""

    def __init__(self, first):
        self._first = first
        self._flat = is_flat_tuple(first)
        # a plain dict of leaves: its keys in flatten's order, checked without a signature
        self._keys = tuple(sorted_keys(first)) if type(first) is dict and not any(
            isinstance(v, _NODES) for v in first.values()) else None
        self._signature = signature(first)
        self._leaves = [(leaf.dtype, np.ndim(leaf)) for leaf in flatten(first)]
        self._kinds = [type(leaf) for leaf in flatten(first)]  # dense, sparse, ragged

    def check(self, element, what, index):
        if self._flat:
            alike = is_flat_tuple(element) and len(element) == len(self._leaves)
            leaves = element
        elif self._keys is not None and type(element) is dict and \
                len(element) == len(self._keys) and all(k in element for k in self._keys):
            leaves = [element[k] for k in self._keys]
            alike = not any(isinstance(v, _NODES) for v in leaves)
        else:
            leaves = flatten(element)
            alike = len(leaves) == len(self._leaves) and signature(element) == self._signature
        if alike and all(leaf.dtype == dtype and leaf.ndim == ndim and type(leaf) is kind
                         for leaf, (dtype, ndim), kind in zip(leaves, self._leaves,
                                                              self._kinds)):
            return
        check_like(element, self._first, what, index)  # raises, naming what differs
