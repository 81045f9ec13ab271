"""The tf.* ops TF dispatches to RaggedTensors: reductions, concat/stack, cast, gather,
boolean_mask and the element-wise ops, registered with _op_dispatch by the function each
public op wraps (so xf.reduce_sum and xf.math.reduce_sum are one entry).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from xlaflow import _op_dispatch, ops
from xlaflow.ragged_array_ops import is_text
from xlaflow.ragged_math import binary, rebuild, reduce
from xlaflow.ragged_tensor import RaggedTensor, need_known
from xlaflow.sparse_tensor import traced


def _ragged(value, op):
    """A RaggedTensor, or a dense tensor as one with every row full (TF's from_tensor)."""
    if isinstance(value, RaggedTensor):
        return value
    from xlaflow.ragged_convert import from_tensor
    from xlaflow.tensors import convert_to_tensor

    # text stays a host array (a marker column of "#" joined to rows of words)
    return from_tensor(value if traced(value) else convert_to_tensor(value))


def _join(arrays):
    """Arrays joined along axis 0: host text by NumPy, numbers by jnp (traceable)."""
    if any(is_text(a) for a in arrays):
        return np.concatenate([np.asarray(a) for a in arrays])
    return jnp.concatenate(arrays)


def _splits_concat(splits_list):
    out, offset = [splits_list[0]], splits_list[0][-1]
    for s in splits_list[1:]:
        out.append(s[1:] + offset)
        offset = offset + s[-1]
    return jnp.concatenate(out)


def _concat0(values):
    if not isinstance(values[0], RaggedTensor):
        return _join(values)
    splits = _splits_concat([v.row_splits for v in values])
    return RaggedTensor._unchecked(_concat0([v.values for v in values]), splits)


def concat(values, axis, name=None):
    """tf.concat of RaggedTensors (and dense tensors) along axis 0 or 1."""
    values = [_ragged(v, "concat") for v in values]
    if not values:
        raise ValueError("xf.concat: values must not be empty")
    dtypes = [v.dtype for v in values]
    if any(d != dtypes[0] for d in dtypes):  # NumPy would promote; TF refuses
        raise TypeError(f"xf.concat: the inputs must have one dtype, as TF's; received "
                        f"{[str(d) for d in dtypes]} (cast them first, or format numbers "
                        "with xf.strings.as_string)")
    ranks = [v.ndim for v in values]
    if len(set(ranks)) != 1:
        raise ValueError(f"xf.concat: the inputs must have one rank; received ranks {ranks}")
    # TF's _increase_ragged_rank_to: inner uniform dims become ragged where others are
    deepest = max(v.ragged_rank for v in values)
    values = [_raise_ragged_rank(v, deepest) for v in values]
    rank = values[0].ndim
    axis = int(axis) % rank if -rank <= int(axis) < rank else axis
    if axis == 0:
        return _concat0(values)
    if not isinstance(axis, int) or not 0 <= axis < rank:
        raise ValueError(f"xf.concat: axis must be an int in [{-rank}, {rank}); received "
                         f"{axis!r}")
    if axis == 1:
        return _concat_rows(values)
    return _concat_inner(values, axis)


def _raise_ragged_rank(rt, ragged_rank):
    """rt with its outer inner-uniform dims made ragged, up to `ragged_rank`."""
    from xlaflow.ragged_convert import from_tensor

    while rt.ragged_rank < ragged_rank:
        flat = rt.flat_values
        inner = from_tensor(flat, ragged_rank=1, row_splits_dtype=rt.row_splits.dtype)
        rt = rt.with_flat_values(inner)
    return rt


def _concat_rows(values):
    """Row i of the result is row i of each input, joined: a scatter to known places."""
    nrows = {v.nrows_static for v in values}
    if len(nrows) != 1:
        raise ValueError(f"xf.concat: along axis 1 the inputs must have the same number of "
                         f"rows; received {[v.nrows_static for v in values]}")
    lengths = [v.row_lengths() for v in values]
    total = sum(lengths[1:], lengths[0])
    splits = jnp.concatenate([jnp.zeros(1, total.dtype), jnp.cumsum(total)]).astype(
        values[0].row_splits.dtype)
    from xlaflow.ragged_array_ops import take

    # where each input's values land, then one gather by the inverse order (a gather, so
    # host text takes the same path as numbers)
    before, places = jnp.zeros_like(lengths[0]), []
    for v, n in zip(values, lengths):
        rows = v.value_rowids()
        pos = jnp.arange(v.values.shape[0], dtype=rows.dtype) - v.row_splits[rows]
        places.append(splits[rows] + before[rows] + pos)
        before = before + n
    order = jnp.argsort(jnp.concatenate(places))
    joined = _concat0([v.values for v in values])
    if isinstance(joined, RaggedTensor):  # rows of rows: picked eagerly (their sizes vary)
        from xlaflow.ragged_getitem import gather_rows

        need_known("concat of RaggedTensors along axis 1", "the rows' lengths", values)
        return RaggedTensor._unchecked(gather_rows(joined, np.asarray(order)), splits)
    return RaggedTensor._unchecked(take(joined, order), splits)


def _concat_inner(values, axis):
    """Along an axis inside the rows (axis >= 2): the inputs share their outer rows, and
    the values join along axis - 1 (TF's)."""
    from xlaflow.ragged_math import same_splits

    for v in values[1:]:
        same_splits(values[0].row_splits, v.row_splits, "concat", 0)
    inner = [v.values for v in values]
    if isinstance(inner[0], RaggedTensor):
        joined = concat(inner, axis - 1)
    elif any(is_text(a) for a in inner):
        joined = np.concatenate([np.asarray(a) for a in inner], axis=axis - 1)
    else:
        joined = jnp.concatenate(inner, axis=axis - 1)
    return RaggedTensor._unchecked(joined, values[0].row_splits)


def stack(values, axis=0, name=None):
    """tf.stack of RaggedTensors: axis 0 adds an outer ragged dimension over the inputs;
    another axis is the concat of the inputs each expanded there (TF's)."""
    values = [_ragged(v, "stack") for v in values]
    rank = values[0].ndim if values else 1
    if not isinstance(axis, (int, np.integer)) or not -rank - 1 <= axis <= rank:
        raise ValueError(f"xf.stack: axis must be an int in [{-rank - 1}, {rank}]; received "
                         f"{axis!r}")
    axis = int(axis) % (rank + 1)
    if axis:
        return concat([expand_dims(v, axis) for v in values], axis)
    joined = concat(values, 0)
    sizes = np.cumsum([0] + [v.nrows_static for v in values])
    return RaggedTensor._unchecked(joined, jnp.asarray(sizes, joined.row_splits.dtype))


def cast(x, dtype, name=None):
    return rebuild(x, ops.cast(x.flat_values, dtype))


def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    """tf.gather(rt, indices): rows of rt (axis 0). Eager: sizes depend on the rows.
    RaggedTensor indices give their own row partition over what the flat ids gather (TF's);
    jittable when params is dense."""
    from xlaflow.ragged_getitem import gather_rows

    if axis not in (None, 0) or batch_dims:
        raise NotImplementedError("xf.gather: a RaggedTensor gathers along axis 0 only "
                                  "(batch_dims=0)")
    if isinstance(indices, RaggedTensor):
        if isinstance(params, RaggedTensor):
            flat = gather(params, indices.flat_values)
            return RaggedTensor.from_nested_row_splits(flat, indices.nested_row_splits,
                                                       validate=False)
        from xlaflow import array_ops

        return rebuild(indices, array_ops.gather(params, indices.flat_values))
    need_known("gather of a RaggedTensor", "the gathered rows' lengths", params, indices)
    idx = np.asarray(indices)
    flat = gather_rows(params, idx.reshape(-1))
    if idx.ndim <= 1:
        return flat[0] if idx.ndim == 0 else flat
    # the indices' outer dims are uniform (TF's from_tensor partitions): shape stays known
    splits_type = flat.row_splits.dtype
    for k in range(idx.ndim - 1, 0, -1):
        splits = jnp.arange(int(np.prod(idx.shape[:k])) + 1, dtype=splits_type) * idx.shape[k]
        flat = RaggedTensor._unchecked(flat, splits, idx.shape[k])
    return flat


def embedding_lookup(params, ids, max_norm=None, name=None):
    """tf.nn.embedding_lookup with RaggedTensor ids: the rows of params at the flat ids,
    in the ids' row partition (one more uniform inner dimension)."""
    from xlaflow.math_extra import embedding_lookup as dense_lookup

    if isinstance(params, RaggedTensor) or not isinstance(ids, RaggedTensor):
        raise TypeError("xf.nn.embedding_lookup: params must be a tensor (or a list of "
                        "shards); RaggedTensor ids are looked up, ragged params are not")
    return rebuild(ids, dense_lookup(params, ids.flat_values, max_norm))


def _reduction(kind):
    def ragged_reduce(input_tensor, axis=None, keepdims=False, name=None):
        return reduce(kind, input_tensor, axis, bool(keepdims))
    return ragged_reduce


def _unary(fn):
    return lambda x, *args, **kwargs: rebuild(x, fn(x.flat_values, *args, **kwargs))


def _elementwise(fn, count):
    """fn over the flat values, its first `count` parameters tensors: RaggedTensors sharing
    one row partition, or dense operands broadcast against it (TF's element-wise
    dispatch); the others pass through (leaky_relu's alpha, ones_like's dtype)."""
    import inspect

    names = list(inspect.signature(fn).parameters)[:count]

    def ragged_op(*args, **kwargs):
        from xlaflow.ragged_math import dense_operand, same_partition

        bound = dict(zip(names, args), **kwargs)
        tensors = [bound.pop(n) for n in names if n in bound]
        rt = next(t for t in tensors if isinstance(t, RaggedTensor))
        op = getattr(fn, "__name__", "op")
        flat = []
        for t in tensors:
            if isinstance(t, RaggedTensor):
                same_partition(rt, t, op)
                flat.append(t.flat_values)
            else:
                flat.append(dense_operand(rt, t, op))
        return rebuild(rt, fn(*flat, *args[count:], **{k: v for k, v in bound.items()
                                                      if k not in names}))
    return ragged_op


_select = _elementwise(jnp.where, 3)  # where(condition, x, y) over the flat values


def where(condition, x=None, y=None, name=None):
    """tf.where with RaggedTensors: x where condition holds, else y, over one row partition
    (dense operands broadcast); with neither, the int64 coordinates of the true values."""
    if (x is None) != (y is None):
        raise ValueError("xf.where: give both x and y (a selection), or neither (the "
                         f"coordinates of the true elements); received x={x!r:.60}, "
                         f"y={y!r:.60}")
    if x is not None:
        return _select(condition, x, y)
    if not isinstance(condition, RaggedTensor):
        raise TypeError("xf.where: with neither x nor y, condition is the RaggedTensor")
    need_known("where(condition) of a RaggedTensor", "the number of true values", condition)
    from xlaflow.ragged_convert import positions

    flat = np.asarray(condition.flat_values)
    if flat.dtype != np.bool_:
        raise TypeError(f"xf.where: condition must be bool; received {flat.dtype}")
    index = np.stack([np.asarray(p) for p in positions(condition)], axis=1)
    true = np.argwhere(flat)  # (value, inner positions...) of each true value
    coords = np.concatenate([index[true[:, 0]], true[:, 1:]], axis=1).astype(np.int64)
    from xlaflow.sparse_tensor import index_dtype

    return jnp.asarray(coords, index_dtype())


def add_n(inputs, name=None):
    """tf.math.add_n of RaggedTensors (and dense tensors broadcast against them)."""
    inputs = list(inputs)
    total = inputs[0]
    for value in inputs[1:]:
        total = binary(jnp.add, "math.add_n", total, value)
    return total


def expand_dims(input, axis, name=None):
    """tf.expand_dims of a RaggedTensor: a uniform size-1 dimension at `axis`."""
    rank = input.ndim
    if not isinstance(axis, (int, np.integer)) or not -rank - 1 <= axis <= rank:
        raise ValueError(f"xf.expand_dims: axis must be an int in [{-rank - 1}, {rank}] "
                         f"for a RaggedTensor of rank {rank}; received {axis!r}")
    axis = int(axis) % (rank + 1)
    if axis == 0:
        return RaggedTensor.from_uniform_row_length(input, input.nrows_static, nrows=1)
    if axis == 1:
        return RaggedTensor.from_uniform_row_length(input, 1, nrows=input.nrows_static)
    values = input.values
    inner = expand_dims(values, axis - 1) if isinstance(values, RaggedTensor) else \
        jnp.expand_dims(values, axis - 1)
    return RaggedTensor._unchecked(inner, input.row_splits, input._uniform)


def _binary_op(fn):
    def ragged_binary(x, y, *args, **kwargs):
        return binary(lambda a, b: fn(a, b, *args, **kwargs), "math op", x, y)
    return ragged_binary


def register():
    """Tell _op_dispatch which function stands for each op given a RaggedTensor."""
    from xlaflow import array_ops, math_extra, nn_ops
    from xlaflow.ragged_array_ops import reverse, tile

    table = {getattr(ops, f"reduce_{k}"): _reduction(k)
             for k in ("sum", "mean", "max", "min", "prod", "any", "all")}
    table.update({ops.concat: concat, ops.stack: stack, ops.cast: cast,
                  array_ops.gather: gather, array_ops.tile: tile, array_ops.reverse: reverse,
                  math_extra.embedding_lookup: embedding_lookup})
    for fn in (jnp.abs, jnp.exp, jnp.log, jnp.sqrt, jnp.square, jnp.sin, jnp.cos, jnp.tanh,
               jnp.negative, jnp.floor, jnp.ceil, jnp.round, jnp.sign, jnp.log1p,
               jnp.expm1, jnp.logical_not, nn_ops.sigmoid, nn_ops.softplus):
        table[fn] = _unary(fn)
    for fn in (jnp.add, jnp.subtract, jnp.multiply, jnp.divide, jnp.maximum, jnp.minimum,
               jnp.equal, jnp.not_equal, jnp.less, jnp.less_equal, jnp.greater,
               jnp.greater_equal, jnp.logical_and, jnp.logical_or, math_extra.truediv,
               math_extra.floordiv, math_extra.floormod):
        table[fn] = _binary_op(fn)
    from xlaflow import math as xf_math

    def under(wrapper):  # xf.math's names are its published wrappers: key the function
        return getattr(wrapper, "__wrapped__", wrapper)

    table.update({under(xf_math.reduce_variance): _reduction("variance"),
                  under(xf_math.reduce_std): _reduction("std")})
    from xlaflow.ragged_mask import dense_api_boolean_mask

    table[array_ops.boolean_mask] = dense_api_boolean_mask
    table.update({under(xf_math.add_n): add_n, array_ops.where: where, ops.expand_dims: expand_dims,
                  ops.identity: lambda input, name=None: input,
                  ops.clip_by_value: _elementwise(ops.clip_by_value, 3)})
    for fn in (nn_ops.relu, nn_ops.relu6, nn_ops.elu, nn_ops.selu, nn_ops.gelu, nn_ops.silu,
               nn_ops.leaky_relu, nn_ops.tanh, nn_ops.softsign, math_extra.log_sigmoid,
               math_extra.erf, math_extra.lgamma, under(xf_math.is_nan),
               under(xf_math.is_finite), under(xf_math.is_inf), under(xf_math.rsqrt),
               jnp.reciprocal, jnp.ones_like, jnp.zeros_like,
               jnp.tan, jnp.arcsin, jnp.arccos, jnp.arctan, jnp.sinh, jnp.cosh):
        table[fn] = _elementwise(fn, 1)
    for fn in (under(xf_math.pow), under(xf_math.divide_no_nan), math_extra.squared_difference,
               math_extra.atan2, math_extra.logical_xor):
        table[fn] = _elementwise(fn, 2)
    from xlaflow import ragged_shape

    table[ops.shape] = ragged_shape.shape  # (ops.size looks for a RaggedTensor itself)
    _op_dispatch.dispatch_for(RaggedTensor, table)
    _op_dispatch.dispatch_for(ragged_shape.DynamicRaggedShape,
                              {ops.zeros: ragged_shape.zeros, ops.ones: ragged_shape.ones})
