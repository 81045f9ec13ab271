"""RaggedTensor indexing as TF's: rt[i], rt[a:b], rt[i, j], rt[:, j], rt[:, a:b], rt[:, :, k].

Picking rows (rt[i], a slice of rows, xf.gather) and slicing inside rows give sizes that
depend on row_splits, so they run eagerly; rt[:, j] and rt[:, :, k] keep their size and
run inside xf.function too, where a row too short for j fails when the program runs.
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np

from xlaflow.errors import InvalidArgumentError
from xlaflow.ragged_tensor import RaggedTensor, need_known
from xlaflow.sparse_tensor import traced


def _as_int(key):
    if isinstance(key, (bool, np.bool_)):
        return None
    if isinstance(key, (int, np.integer)):
        return int(key)
    if hasattr(key, "ndim") and key.ndim == 0 and jnp.issubdtype(key.dtype, jnp.integer):
        if traced(key):
            raise TypeError("xf.RaggedTensor.__getitem__: a traced index picks a row whose "
                            "length XLA cannot know; index rt.to_tensor(shape=...) instead")
        return int(key)
    return None


def getitem(rt, key):
    """TF's RaggedTensor.__getitem__."""
    key = key if isinstance(key, tuple) else (key,)
    for k in key:
        if k is Ellipsis or k is None:
            raise NotImplementedError("xf.RaggedTensor.__getitem__: Ellipsis and newaxis "
                                      "are not provided; spell out each axis (rt[:, :, 0])")
        if _as_int(k) is None and not isinstance(k, slice):
            raise TypeError(f"xf.RaggedTensor.__getitem__: indices must be ints or slices; "
                            f"received {type(k).__name__} {k!r:.40} (use xf.gather or "
                            "xf.ragged.boolean_mask for tensors of indices)")
    if len(key) > rt.ndim:
        raise IndexError(f"xf.RaggedTensor.__getitem__: too many indices ({len(key)}) for a "
                         f"RaggedTensor of rank {rt.ndim}")
    return _get(rt, key)


def _get(x, key):
    if not key:
        return x
    if not isinstance(x, RaggedTensor):
        return x[key]
    first, rest = key[0], key[1:]
    index = _as_int(first)
    if index is not None:
        return _get(_row(x, index), rest)
    rows = x if first == slice(None) else _rows(x, first)
    return _inner(rows, rest) if rest else rows


def _host_splits(rt, op):
    need_known(op, "row_splits (which values a row holds)", rt.row_splits)
    return np.asarray(rt.row_splits).astype(np.int64)


def _row(rt, i):
    n = rt.nrows_static
    if not -n <= i < n:
        raise IndexError(f"xf.RaggedTensor.__getitem__: row index {i} is out of range for "
                         f"{n} rows")
    s = _host_splits(rt, "RaggedTensor.__getitem__")
    i %= n
    return _value_rows(rt.values, int(s[i]), int(s[i + 1]))


def _value_rows(values, a, b):
    if isinstance(values, RaggedTensor):
        return _rows(values, slice(a, b))
    return values[a:b]


def _rows(rt, slc):
    """The rows `slc` picks, as a RaggedTensor (eager)."""
    picked = range(rt.nrows_static)[slc]
    return gather_rows(rt, np.asarray(picked, np.int64))


def gather_rows(rt, rows):
    """The RaggedTensor of rt's rows `rows` (host ints, in [-nrows, nrows)), in order."""
    s = _host_splits(rt, "RaggedTensor row selection")
    n = rt.nrows_static
    rows = np.asarray(rows, np.int64).reshape(-1)
    bad = (rows < -n) | (rows >= n)
    if bad.any():
        raise InvalidArgumentError(None, None, f"indices[{int(np.argmax(bad))}] = "
                                               f"{int(rows[bad][0])} is not in [0, {n})")
    rows = rows % n if n else rows
    starts, limits = s[:-1][rows], s[1:][rows]
    take = np.concatenate([np.arange(a, b) for a, b in zip(starts, limits)]) \
        if rows.size else np.zeros(0, np.int64)
    splits = np.concatenate([[0], np.cumsum(limits - starts)])
    values = gather_rows(rt.values, take) if isinstance(rt.values, RaggedTensor) else \
        rt.values[take]
    return RaggedTensor._unchecked(values, jnp.asarray(splits, rt.row_splits.dtype))


def _inner(rows, key):
    """`rows[:, key...]`: key[0] indexes inside each row (the ragged axis)."""
    first, rest = key[0], key[1:]
    index = _as_int(first)
    if index is not None:
        return _get(_column(rows, index), (slice(None),) + rest)
    if first == slice(None):
        return RaggedTensor._unchecked(_get(rows.values, (slice(None),) + rest),
                                       rows.row_splits)
    s = _host_splits(rows, "RaggedTensor.__getitem__ (a slice inside rows)")
    picked = [np.arange(a, b)[first] for a, b in itertools.pairwise(s)]
    take = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    splits = np.concatenate([[0], np.cumsum([len(p) for p in picked])]).astype(np.int64)
    values = gather_rows(rows.values, take) if isinstance(rows.values, RaggedTensor) else \
        rows.values[take]
    out = RaggedTensor._unchecked(values, jnp.asarray(splits, rows.row_splits.dtype))
    return _inner(out, (slice(None),) + rest) if rest else out


def _column(rows, j):
    """Element j of every row (negative j counts from each row's end); TF refuses rows too
    short for it."""
    from xlaflow import _runtime_checks

    starts = rows.row_splits[:-1]
    lengths = rows.row_splits[1:] - starts
    pos = j if j >= 0 else lengths + j
    ok = (pos >= 0) & (pos < lengths)

    def error(lengths_):
        short = int(np.argmax(~((j if j >= 0 else lengths_ + j) >= 0)
                              | ~((j if j >= 0 else lengths_ + j) < lengths_)))
        return InvalidArgumentError(None, None, f"xf.RaggedTensor.__getitem__: index {j} is "
                                                f"out of bounds for row {short} of length "
                                                f"{int(lengths_[short])}")
    if traced(ok):
        _runtime_checks.check(jnp.all(ok), error, lengths)
    elif not bool(jnp.all(ok)):
        raise error(np.asarray(lengths))
    index = jnp.clip(starts + pos, 0, max(_count(rows.values) - 1, 0))
    if isinstance(rows.values, RaggedTensor):
        need_known("RaggedTensor.__getitem__ (rt[:, j] of a RaggedTensor with ragged_rank "
                   "> 1)", "the picked rows' lengths", rows.values.row_splits)
        return gather_rows(rows.values, np.asarray(index))
    return rows.values[index]


def _count(values):
    return values.nrows_static if isinstance(values, RaggedTensor) else values.shape[0]
