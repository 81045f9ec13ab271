"""Ragged inputs as compiled steps take them: a batch of a RaggedTensor's rows is its
padded dense form plus its row lengths (Keras 2's LSTM turns a ragged input into the same).

XLA compiles one program per shape, so each batch's width is rounded up to a bucket (the
next power of two): a few programs serve every batch, and the padded steps are masked.
RaggedRows holds a whole ragged column on the host, for fit/evaluate/predict to slice.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.ragged_tensor import RaggedTensor
from xlaflow.sparse_tensor import traced


def bucket(longest):
    """The padded width of a batch whose longest row has `longest` values: the next power
    of two, at least 1 (so widths 3 and 4 share a program, 5 to 8 the next)."""
    return 1 << max(int(longest) - 1, 0).bit_length()


@jax.tree_util.register_pytree_node_class
class RaggedBatch:
    """Ragged rows padded with zeros: `dense` (rows, width, ...) and `lengths` (rows,),
    int32. A pytree, so it passes through xf.function and jax.jit as a step's argument."""

    def __init__(self, dense, lengths):
        self.dense, self.lengths = dense, lengths

    def tree_flatten(self):
        return (self.dense, self.lengths), None

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        return cls(*leaves)

    @property
    def shape(self):
        return tuple(np.shape(self.dense))

    @property
    def dtype(self):
        return self.dense.dtype

    def mask(self):
        """The Keras mask of the padded form: True at each row's own steps."""
        width = np.shape(self.dense)[1]
        return jnp.arange(width)[None, :] < jnp.asarray(self.lengths)[:, None]

    def to_ragged(self):
        """The rows again (host values needed: their number sets the result's size)."""
        if traced(self.dense, self.lengths):
            raise NotImplementedError(
                "a model output that keeps the ragged axis cannot become a RaggedTensor "
                "inside a traced function (its number of values depends on the data); call "
                "the model eagerly or use model.predict, which return RaggedTensors")
        lengths = np.asarray(self.lengths)
        dense = np.asarray(self.dense)
        keep = np.arange(dense.shape[1])[None, :] < lengths[:, None]
        return RaggedTensor.from_row_lengths(dense[keep], lengths.astype(np.int64))


def dense_view(tree):
    """`tree` with each RaggedBatch as its padded array (for shape and dtype checks)."""
    return jax.tree_util.tree_map(lambda b: b.dense if isinstance(b, RaggedBatch) else b,
                                  tree, is_leaf=is_batch)


def is_batch(x):
    return isinstance(x, RaggedBatch)


def is_ragged(x):
    return isinstance(x, (RaggedTensor, RaggedBatch, RaggedRows))


def has_ragged(tree):
    return any(is_ragged(leaf) for leaf in jax.tree_util.tree_leaves(tree, is_leaf=is_ragged))


def _check_rank(rt, what):
    if rt.ragged_rank != 1:
        raise NotImplementedError(
            f"{what}: a RaggedTensor of ragged_rank {rt.ragged_rank}; Keras models take "
            "ragged_rank 1 (rows of values, or of fixed-size vectors): merge the inner "
            "ragged dimensions first (rt.merge_dims) or pad them (rt.to_tensor())")


def padded(rt, dtype=None):
    """`rt` (a RaggedTensor of ragged_rank 1) as a RaggedBatch. Known rows pad to the
    bucket of the longest row; traced rows (their lengths unknown) to the bucket of the
    number of values, which bounds every row."""
    _check_rank(rt, "a Keras model's input")
    flat = rt.flat_values
    if traced(flat, rt.row_splits):
        width = bucket(flat.shape[0])
        dense = rt.to_tensor(shape=[rt.nrows_static, width, *flat.shape[1:]])
        lengths = rt.row_lengths().astype(jnp.int32)
    else:
        host = RaggedRows(np.asarray(flat), np.asarray(rt.row_splits))
        batch = host[:]
        dense, lengths = jnp.asarray(batch.dense), jnp.asarray(batch.lengths)
    if dtype is not None:
        dense = dense.astype(jax.dtypes.canonicalize_dtype(dtype))
    return RaggedBatch(dense, lengths)


class RaggedRows:
    """A ragged column on the host (flat values and row splits, NumPy) for ArrayBatches:
    `rows(piece)` keeps some rows (validation_split); `[piece]` pads them as a RaggedBatch
    of the piece's bucket width (one batch)."""

    def __init__(self, flat, splits):
        if flat.dtype == np.float64:  # TF/Keras' default float, as the arrays' pipeline
            flat = flat.astype(np.float32)
        self.flat, self.splits = flat, splits.astype(np.int64)

    @property
    def lengths(self):
        return np.diff(self.splits)

    @property
    def shape(self):
        return (len(self.splits) - 1, None, *self.flat.shape[1:])

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def dtype(self):
        return self.flat.dtype

    def __len__(self):
        return len(self.splits) - 1

    def rows(self, piece):
        """The rows `piece` (a slice or row indices) selects, in its order."""
        lengths = self.lengths[piece]
        starts = self.splits[:-1][piece]
        splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        within = np.arange(splits[-1]) - np.repeat(splits[:-1], lengths)
        return RaggedRows(self.flat[np.repeat(starts, lengths) + within], splits)

    def __getitem__(self, piece):
        part = self if isinstance(piece, slice) and piece == slice(None) else self.rows(piece)
        lengths = part.lengths
        width = bucket(lengths.max(initial=0))
        dense = np.zeros((len(lengths), width, *part.flat.shape[1:]), part.flat.dtype)
        dense[np.arange(width)[None, :] < lengths[:, None]] = part.flat  # row-major order
        return RaggedBatch(dense, lengths.astype(np.int32))


def _structure(tree):
    """Whether `tree` is a RaggedTensor or a dict/list/tuple that may hold one."""
    return isinstance(tree, (RaggedTensor, dict, list, tuple))


def host_rows(tree, what):
    """`tree` with each RaggedTensor leaf held as RaggedRows (fit/evaluate/predict's x)."""
    if not _structure(tree):
        return tree  # a generator, a Dataset, an array: nothing ragged inside
    def one(leaf):
        if not isinstance(leaf, RaggedTensor):
            return leaf
        _check_rank(leaf, what)
        flat = leaf.flat_values
        if traced(flat):
            raise TypeError(f"{what}: a traced RaggedTensor; fit/evaluate/predict take "
                            "known data")
        if np.asarray(flat).dtype.kind in "USO":
            raise NotImplementedError(
                f"{what}: a RaggedTensor of strings; look the strings up first (e.g. "
                "keras.layers.StringLookup on rt.flat_values, rt.with_flat_values(ids)) "
                "and feed the ids")
        return RaggedRows(np.asarray(flat), np.asarray(leaf.row_splits))
    return jax.tree_util.tree_map(one, tree, is_leaf=lambda x: isinstance(x, RaggedTensor))


def host_batches(tree):
    """A batch's known RaggedTensors padded on the host (a generator's or Dataset's
    batches), so the step compiles per bucket rather than per number of values."""
    def one(leaf):
        if isinstance(leaf, RaggedTensor) and not traced(leaf.flat_values) and \
                leaf.ragged_rank == 1 and np.asarray(leaf.flat_values).dtype.kind not in "USO":
            return RaggedRows(np.asarray(leaf.flat_values), np.asarray(leaf.row_splits))[:]
        return leaf
    return jax.tree_util.tree_map(one, tree, is_leaf=lambda x: isinstance(x, RaggedTensor))


def refuse_ragged(tree, what):
    if has_ragged(tree):
        raise NotImplementedError(
            f"{what} as a RaggedTensor: only a model's inputs may be ragged; pad the "
            "targets (rt.to_tensor()) to the predictions' shape")


def concatenate(outputs):
    """predict's per-batch outputs joined: arrays end to end, RaggedBatches (outputs that
    keep the ragged axis) as one RaggedTensor of all their rows."""
    first = outputs[0]
    if not has_ragged(first):
        return None

    def join(*parts):
        if isinstance(parts[0], RaggedBatch):
            rows = [p.to_ragged() for p in parts]
            return RaggedTensor.from_row_lengths(
                np.concatenate([np.asarray(r.flat_values) for r in rows]),
                np.concatenate([np.asarray(r.row_lengths()) for r in rows]))
        return np.concatenate([np.asarray(p) for p in parts])
    return jax.tree_util.tree_map(join, *outputs, is_leaf=is_batch)
