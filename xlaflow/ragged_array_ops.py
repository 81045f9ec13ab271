"""tf.tile, tf.reverse and tf.map_fn on RaggedTensors (TF dispatches all three to them).

tile and reverse move values by index arithmetic on row_splits, so numeric ones run inside
xf.function too (multiples are Python ints: they set the size); text values, held on the
host, take NumPy's indexing. map_fn calls fn once per row, which needs each row's length:
eagerly, or traced only when the rows have a uniform_row_length (a static size).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.ragged_tensor import RaggedTensor
from xlaflow.sparse_tensor import traced


def is_text(values):
    return isinstance(values, np.ndarray) and values.dtype.kind in "USO"


def take(values, index):
    """values[index] along axis 0: rows of a RaggedTensor (eager), host text by NumPy."""
    from xlaflow.ragged_getitem import gather_rows

    if isinstance(values, RaggedTensor):
        return gather_rows(values, np.asarray(index))
    if is_text(values):
        return values[np.asarray(index)]
    return values[index]


def _rowids(splits, total):
    """The row of each of `total` values that `splits` partitions (jittable)."""
    lengths = splits[1:] - splits[:-1]
    return jnp.repeat(jnp.arange(splits.shape[0] - 1, dtype=splits.dtype), lengths,
                      total_repeat_length=total)


def _count(values):
    return values.nrows_static if isinstance(values, RaggedTensor) else values.shape[0]


# -- tile -----------------------------------------------------------------------------------
def tile(input, multiples, name=None):
    """tf.tile of a RaggedTensor: axis 0 repeats the rows, a ragged axis repeats each row's
    contents in place ([[1, 2], []] tiled [1, 2] is [[1, 2, 1, 2], []])."""
    if traced(multiples):
        raise TypeError("xf.tile: multiples set the result's size, which XLA needs when the "
                        "function is traced; pass Python ints for a RaggedTensor")
    m = [int(x) for x in np.asarray(multiples).reshape(-1)]
    if len(m) != input.ndim or any(x < 0 for x in m):
        raise ValueError(f"xf.tile: multiples must have one int >= 0 per axis of the "
                         f"RaggedTensor (rank {input.ndim}); received {m}")
    return _tile(input, m)


def _tile(x, m):
    if not isinstance(x, RaggedTensor):
        return np.tile(x, m) if is_text(x) else jnp.tile(x, m)
    # x's axis k >= 2 is axis k - 1 of its values (axis 0 of values spans x's axes 0 and 1)
    inner = _tile(x.values, [1] + m[2:])
    out = _repeat_in_rows(x, inner, m[1])
    if m[0] == 1:
        return out
    if m[0] == 0:  # no rows, the inner structure kept (TF's empty result)
        return _no_rows(out)
    from xlaflow.ragged_dispatch import concat

    return concat([out] * m[0], 0)


def _no_rows(x):
    """x with 0 rows: empty values of the same inner shape and ragged_rank."""
    values = _no_rows(x.values) if isinstance(x.values, RaggedTensor) else x.values[:0]
    return RaggedTensor._unchecked(values, x.row_splits[:1], x._uniform)


def _repeat_in_rows(x, values, k):
    """Each row of x holding its values k times over (values: x's values, maybe tiled)."""
    splits = x.row_splits
    uniform = None if x._uniform is None else x._uniform * k
    if k == 1:
        return RaggedTensor._unchecked(values, splits, uniform)
    lengths = splits[1:] - splits[:-1]
    new_splits = jnp.concatenate([splits[:1], jnp.cumsum(lengths * k)]).astype(splits.dtype)
    total = _count(values) * k
    rows = _rowids(new_splits, total)
    within = jnp.arange(total, dtype=splits.dtype) - new_splits[rows]
    source = splits[rows] + within % jnp.maximum(lengths[rows], 1)
    return RaggedTensor._unchecked(take(values, source), new_splits, uniform)


# -- reverse --------------------------------------------------------------------------------
def reverse(tensor, axis, name=None):
    """tf.reverse of a RaggedTensor along `axis` (ints): axis 0 reverses the rows, a ragged
    axis the items inside each row, an inner uniform axis the flat values'."""
    if traced(axis):
        raise TypeError("xf.reverse: axis must be Python ints for a RaggedTensor")
    rank = tensor.ndim
    axes = np.asarray(axis).reshape(-1).tolist()
    for a in axes:
        if not isinstance(a, int) or not -rank <= a < rank:
            raise ValueError(f"xf.reverse: axis must be ints in [{-rank}, {rank}); received "
                             f"{axis!r}")
    axes = [a % rank for a in axes]
    if len(set(axes)) != len(axes):  # twice would undo it: TF refuses
        from xlaflow.errors import InvalidArgumentError

        raise InvalidArgumentError(None, None, f"xf.reverse: an axis is given more than "
                                               f"once: {axis!r}")
    out = tensor
    for a in axes:
        out = _reverse(out, a)
    return out


def _reverse(x, a):
    if not isinstance(x, RaggedTensor):
        return np.flip(x, a) if is_text(x) else jnp.flip(x, a)
    splits = x.row_splits
    total = _count(x.values)
    if a >= 2:  # axis a of x is axis a - 1 of its values
        return RaggedTensor._unchecked(_reverse(x.values, a - 1), splits, x._uniform)
    lengths = splits[1:] - splits[:-1]
    index = jnp.arange(total, dtype=splits.dtype)
    if a == 1:  # inside each row: the value at t comes from the row's mirror position
        rows = _rowids(splits, total)
        source = splits[rows] + splits[rows + 1] - 1 - index
        return RaggedTensor._unchecked(take(x.values, source), splits, x._uniform)
    flipped = lengths[::-1]
    new_splits = jnp.concatenate([splits[:1], jnp.cumsum(flipped)]).astype(splits.dtype)
    rows = _rowids(new_splits, total)
    source = splits[x.nrows_static - 1 - rows] + index - new_splits[rows]
    return RaggedTensor._unchecked(take(x.values, source), new_splits, x._uniform)


# -- map_fn ---------------------------------------------------------------------------------
def has_ragged(tree):
    """Whether a RaggedTensor (or, in a signature, a RaggedTensorSpec) is in `tree`."""
    from xlaflow.ragged_spec import RaggedTensorSpec

    kinds = (RaggedTensor, RaggedTensorSpec)
    return any(isinstance(leaf, kinds) for leaf in jax.tree_util.tree_leaves(
        tree, is_leaf=lambda v: isinstance(v, kinds)))


def map_fn(fn, elems, signature):
    """TF's map_fn over the rows of elems holding RaggedTensors: fn sees each row (a tensor,
    or a RaggedTensor one ragged_rank lower); outputs a RaggedTensorSpec describes (and,
    with no signature, the outputs elems' ragged leaves give) are stacked as RaggedTensors,
    the others as tensors of equal rows."""
    from xlaflow.ragged_spec import RaggedTensorSpec

    def is_leaf(v):
        return isinstance(v, (RaggedTensor, RaggedTensorSpec))

    leaves, tree = jax.tree_util.tree_flatten(elems, is_leaf=is_leaf)
    counts = {_count(leaf) if isinstance(leaf, RaggedTensor) else np.shape(leaf)[0]
              for leaf in leaves}
    if len(counts) != 1:
        raise ValueError(f"map_fn: the elems must have the same number of rows; received "
                         f"{sorted(counts)}")
    count = counts.pop()
    if signature is None:  # the outputs as elems: a ragged leaf gives a ragged output
        wants, out_tree = [RaggedTensorSpec.from_value(v) if isinstance(v, RaggedTensor)
                           else jnp.dtype(v.dtype) for v in leaves], tree
    else:
        wants, out_tree = jax.tree_util.tree_flatten(signature, is_leaf=lambda v: is_leaf(v)
                                                     or hasattr(v, "shape"))
    if traced(*jax.tree_util.tree_leaves(leaves)):
        if all(not isinstance(v, RaggedTensor) or v._uniform is not None for v in leaves):
            return _uniform_map(fn, leaves, tree, wants, out_tree, count)
        raise TypeError(
            "map_fn: a RaggedTensor's rows have lengths XLA cannot know when the function is "
            "traced, so fn cannot run on each of them; use xf.ragged.map_flat_values(fn, rt) "
            "when fn acts element by element, rt.to_tensor(shape=...) for padded rows, a "
            "RaggedTensor made by from_uniform_row_length (rows of a static length), or "
            "call map_fn eagerly")
    results = []
    for i in range(count):
        row = jax.tree_util.tree_unflatten(tree, [leaf[i] for leaf in leaves])
        out = fn(row)
        flat, got = jax.tree_util.tree_flatten(out, is_leaf=is_leaf)
        if got != out_tree:
            raise ValueError(f"map_fn: `fn` returned {got}, but the output structure is "
                             f"{out_tree}; pass fn_output_signature= with fn's output "
                             "structure (dtypes, xf.TensorSpec or xf.RaggedTensorSpec)")
        results.append(flat)
    stacked = [_stack([r[k] for r in results], want, k) for k, want in enumerate(wants)]
    return jax.tree_util.tree_unflatten(out_tree, stacked)


def _want_dtype(want):
    from xlaflow.tensors import as_dtype

    return np.dtype(want.dtype if hasattr(want, "dtype") else as_dtype(want))


def _row_array(value, want, k):
    from xlaflow.tensors import convert_to_tensor

    out = value if isinstance(value, RaggedTensor) or traced(value) else \
        convert_to_tensor(value, dtype=None if isinstance(value, (np.ndarray, jax.Array))
                          or is_text(np.asarray(value)) else _want_dtype(want))
    dtype = np.dtype(out.dtype) if not is_text(out.flat_values if isinstance(
        out, RaggedTensor) else out) else np.dtype(object)
    expected = _want_dtype(want)
    if dtype.kind != "O" and expected.kind not in "USO" and dtype != expected:
        from xlaflow.errors import InvalidArgumentError

        raise InvalidArgumentError(None, None, (
            f"map_fn: `fn` returned dtype {dtype.name} for output {k}, but the output "
            f"signature gives it dtype {expected.name}; pass fn_output_signature= with fn's "
            "output dtypes, or cast in fn"))
    return out


def _stack(rows, want, k):
    from xlaflow.ragged_spec import RaggedTensorSpec

    rows = [_row_array(r, want, k) for r in rows]
    if isinstance(want, RaggedTensorSpec):
        if any(np.ndim(r) == 0 for r in rows if not isinstance(r, RaggedTensor)):
            raise ValueError(f"map_fn: `fn` returned a scalar for output {k}, whose signature "
                             f"is ragged ({want}); pass fn_output_signature= with a dtype or "
                             "xf.TensorSpec for a tensor result")
        from xlaflow.ragged_dispatch import concat

        if not rows:
            return RaggedTensor._unchecked(jnp.zeros(0, _want_dtype(want)),
                                           jnp.zeros(1, want.row_splits_dtype))
        lengths = [_count(r) for r in rows]
        values = concat(rows, 0) if isinstance(rows[0], RaggedTensor) else (
            np.concatenate(rows) if is_text(rows[0]) else jnp.concatenate(rows))
        return RaggedTensor.from_row_lengths(values, np.asarray(lengths, np.int64))
    shapes = {tuple(np.shape(r)) for r in rows}
    if len(shapes) > 1 or any(isinstance(r, RaggedTensor) for r in rows):
        raise ValueError(f"map_fn: `fn` returned rows of different shapes {sorted(shapes)} "
                         f"for output {k}; pass fn_output_signature=xf.RaggedTensorSpec(...) "
                         "to stack them as a RaggedTensor")
    if not rows:
        return jnp.zeros((0,), _want_dtype(want))
    return np.stack(rows) if is_text(rows[0]) else jnp.stack(rows)


def _uniform_map(fn, leaves, tree, wants, out_tree, count):
    """Traced map_fn over rows of a static length: a lax.map over the values reshaped to
    [nrows, row length, ...]; ragged outputs come back with a uniform_row_length."""
    from xlaflow.ragged_spec import RaggedTensorSpec

    def dense(v):
        if not isinstance(v, RaggedTensor):
            return v
        if isinstance(v.values, RaggedTensor):
            raise TypeError("map_fn: a traced RaggedTensor with ragged_rank > 1 has rows of "
                            "unknown length; call map_fn eagerly")
        return v.values.reshape((count, v._uniform) + v.values.shape[1:])

    def one(row):
        flat, got = jax.tree_util.tree_flatten(fn(jax.tree_util.tree_unflatten(tree, row)))
        if got != out_tree:
            raise ValueError(f"map_fn: `fn` returned {got}, but the output structure is "
                             f"{out_tree}; pass fn_output_signature= with fn's outputs")
        return [_row_array(v, w, k) for k, (v, w) in enumerate(zip(flat, wants))]

    outs = jax.lax.map(one, [dense(v) for v in leaves])
    back = [RaggedTensor.from_uniform_row_length(o.reshape((-1,) + o.shape[2:]), o.shape[1],
                                                 nrows=count)
            if isinstance(w, RaggedTensorSpec) else o for o, w in zip(outs, wants)]
    return jax.tree_util.tree_unflatten(out_tree, back)
