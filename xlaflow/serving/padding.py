"""Unbatched model calls padded to a few batch sizes, so arbitrary request sizes compile a
bounded number of XLA programs.

XLA compiles one program per input shape: served without batching, every distinct number
of rows a client sends used to compile (and keep) another program, without bound. Here
the rows are padded, with copies of a real row, to the next power of two, and requests
larger than `limit` rows run as several calls of at most `limit` rows; the padding rows
are cut from the outputs. So a signature compiles at most log2(limit) + 1 programs.

As with server-side batching (and TF Serving's), this assumes rows are independent: a
model whose output rows depend on other rows of the batch would see the padding. Only
signatures whose every input and output lead with the one shared `batch` size are padded;
others run on the rows as sent.
"""

from __future__ import annotations

import weakref

import numpy as np

# signature -> paddable(signature), found once per loaded signature (weak: an unloaded
# version's signature must not be kept alive by this)
_PADDABLE = weakref.WeakKeyDictionary()


def paddable(signature):
    """Whether `signature` maps `batch` rows in to `batch` rows out (every input and
    output leads with the shared batch size), so padded rows can be cut back off."""
    known = _PADDABLE.get(signature)
    if known is None:
        known = _PADDABLE[signature] = bool(signature.shares_batch) and all(
            len(a.shape) and not isinstance(a.shape[0], int) and str(a.shape[0]) == "batch"
            for a in signature.exported.out_avals)
    return known


def padded_size(rows, limit):
    """The batch size a call of `rows` (1..limit) rows runs at: the next power of two,
    capped at `limit`."""
    return min(1 << (rows - 1).bit_length(), limit)


def call(signature, arrays, limit):
    """`signature`'s outputs (as numpy arrays) for `arrays`, run at padded batch sizes of
    at most `limit` rows when it is paddable and `limit` is set (else as sent); on a model
    thread."""
    if not limit or not paddable(signature):
        return [np.asarray(o) for o in signature.call_flat(arrays)]
    rows = int(arrays[0].shape[0])
    if rows <= limit:
        return _run(signature, arrays, rows, padded_size(rows, limit))
    parts = [_run(signature, [a[start:start + limit] for a in arrays],
                  min(limit, rows - start), padded_size(min(limit, rows - start), limit))
             for start in range(0, rows, limit)]
    return [np.concatenate(outputs) for outputs in zip(*parts)]


def _run(signature, arrays, rows, size):
    if size > rows:
        arrays = [np.concatenate([a, np.repeat(a[:1], size - rows, axis=0)]) for a in arrays]
    outputs = [np.asarray(o) for o in signature.call_flat(arrays)]
    return outputs if size == rows else [o[:rows] for o in outputs]
