"""RaggedTensor arithmetic: operators, element-wise ops through the flat values, and the
reductions over the ragged axis as segment reductions (jittable).

Two RaggedTensors combine only over the same row partition (checked eagerly, or when the
program runs when traced); a dense operand broadcasts as TF's: a scalar, the inner uniform
dims, or [nrows or 1, 1 or every row's length (each ragged axis), inner...].
"""

from __future__ import annotations

import operator

import jax.numpy as jnp
import numpy as np

from xlaflow.errors import InvalidArgumentError
from xlaflow.ragged_tensor import RaggedTensor, need_known
from xlaflow.sparse_tensor import traced


def rebuild(rt, flat):
    """rt's nested row partitions over new flat values (as many)."""
    if isinstance(rt.values, RaggedTensor):
        return RaggedTensor._unchecked(rebuild(rt.values, flat), rt.row_splits, rt._uniform)
    return RaggedTensor._unchecked(flat, rt.row_splits, rt._uniform)


def map_flat_values(op, *args, **kwargs):
    """op applied to the flat values of the RaggedTensors among args (which must share one
    row partition), rebuilt with that partition (tf.ragged.map_flat_values)."""
    found = [a for a in (*args, *kwargs.values()) if isinstance(a, RaggedTensor)]
    if not found:
        raise ValueError("xf.ragged.map_flat_values: no RaggedTensor among the arguments")
    for other in found[1:]:
        same_partition(found[0], other, "ragged.map_flat_values")

    def flat(a):
        return a.flat_values if isinstance(a, RaggedTensor) else a
    out = op(*(flat(a) for a in args), **{k: flat(v) for k, v in kwargs.items()})
    count = found[0].flat_values.shape[0]
    if np.ndim(out) == 0 or out.shape[0] != count:
        raise ValueError(f"xf.ragged.map_flat_values: op must keep the flat values' leading "
                         f"size {count}; it returned shape {np.shape(out)}")
    return rebuild(found[0], out)


def same_partition(a, b, op):
    """TF's check that two RaggedTensors have equal nested row splits."""
    sa, sb = a.nested_row_splits, b.nested_row_splits
    if len(sa) != len(sb):
        raise ValueError(f"xf.{op}: the RaggedTensors have ragged_rank {len(sa)} and "
                         f"{len(sb)}; they must share a row partition")
    na, nb = a.flat_values.shape[0], b.flat_values.shape[0]
    if na != nb:  # known statically: traced splits could not be equal either
        raise InvalidArgumentError(None, None, f"xf.{op}: the operands' row partitions "
                                               f"differ: they hold {na} and {nb} values")
    for level, (x, y) in enumerate(zip(sa, sb)):
        same_splits(x, y, op, level)


def same_splits(x, y, op, level):
    """Equal row_splits vectors (eagerly, or when the program runs when traced)."""
    if x.shape != y.shape:
        raise ValueError(f"xf.{op}: row_splits at ragged level {level} differ in size: "
                         f"{x.shape[0]} and {y.shape[0]} (the operands have different "
                         "row partitions)")
    if traced(x, y):
        from xlaflow import _runtime_checks

        _runtime_checks.check(jnp.all(x == y), lambda u, v: InvalidArgumentError(
            None, None, f"xf.{op}: the operands' row_splits differ: {u.tolist()[:20]} "
                        f"and {v.tolist()[:20]}"), x, y)
    elif not np.array_equal(np.asarray(x), np.asarray(y)):
        raise InvalidArgumentError(
            None, None, f"xf.{op}: the operands' row_splits differ: left "
                        f"{np.asarray(x).tolist()[:20]}, right {np.asarray(y).tolist()[:20]}")


def dense_operand(rt, other, op):
    """A dense operand as TF broadcasts it against rt's flat values."""
    if isinstance(other, (bool, int, float, complex)):
        return other  # keeps JAX's weak typing: rt_float16 * 2.0 stays float16
    from xlaflow.tensors import convert_to_tensor

    dense = other if traced(other) else convert_to_tensor(other)
    inner = rt.flat_values.ndim - 1
    if dense.ndim <= inner:
        return dense
    rank = rt.ndim
    if dense.ndim > rank:
        raise ValueError(f"xf.{op}: the dense operand's rank {dense.ndim} exceeds the "
                         f"RaggedTensor's rank {rank}")
    shape = (1,) * (rank - dense.ndim) + tuple(dense.shape)
    if shape[0] not in (1, rt.nrows_static):
        raise ValueError(f"xf.{op}: the dense operand's first dimension {shape[0]} must be 1 "
                         f"or nrows ({rt.nrows_static})")
    dense = dense.reshape(shape)
    # along a ragged axis a size 1 broadcasts; another size must be every row's length
    # there (TF's rule: the ragged tensor is then uniform along that axis)
    for axis, splits in enumerate(rt.nested_row_splits, start=1):
        if shape[axis] != 1:
            _check_lengths(op, axis, splits[1:] - splits[:-1], shape)
    from xlaflow.ragged_convert import positions

    index = tuple(p if d != 1 else 0 for p, d in zip(positions(rt), shape))
    return dense[index]


def _check_lengths(op, axis, lengths, shape):
    """InvalidArgumentError (TF's) unless every row along `axis` has length shape[axis]."""
    def error(lengths_):
        return InvalidArgumentError(
            None, None, f"xf.{op}: Unable to broadcast: dimension size mismatch in dimension "
                        f"{axis}; lengths={np.asarray(lengths_).tolist()[:20]} dim_size="
                        f"{shape[axis]} (the dense operand's shape {list(shape)})")
    ok = jnp.all(lengths == shape[axis])
    if traced(ok):
        from xlaflow import _runtime_checks

        _runtime_checks.check(ok, error, lengths)
    elif not bool(ok):
        raise error(lengths)


def _is_text(value):
    from xlaflow._host_text import is_string_dtype

    return isinstance(value, (str, bytes)) or (isinstance(value, np.ndarray)
                                                and is_string_dtype(value.dtype))


_TEXT_COMPARISONS = {jnp.equal: operator.eq, jnp.not_equal: operator.ne}


def _on_values(fn, op):
    """fn, or for host text (which XLA cannot hold) its NumPy comparison over TF's bytes."""
    def apply(a, b):
        if not (_is_text(a) or _is_text(b)):
            return fn(a, b)
        if fn not in _TEXT_COMPARISONS:
            raise TypeError(f"xf.{op}: text RaggedTensors compare with == and != only; map "
                            "other text ops over the values with xf.ragged.map_flat_values "
                            "(e.g. xf.strings.join)")
        from xlaflow._string_values import text_array

        # both sides as bytes: b"a" and "a" are one tf.string, as TF's
        out = _TEXT_COMPARISONS[fn](text_array(a, op, "x"), text_array(b, op, "y"))
        return jnp.asarray(np.asarray(out, bool))
    return apply


def binary(fn, op, x, y):
    """fn over the flat values of x and y, one of them a RaggedTensor."""
    fn = _on_values(fn, op)
    if isinstance(x, RaggedTensor) and isinstance(y, RaggedTensor):
        same_partition(x, y, op)
        return rebuild(x, fn(x.flat_values, y.flat_values))
    if isinstance(x, RaggedTensor):
        return rebuild(x, fn(x.flat_values, dense_operand(x, y, op)))
    return rebuild(y, fn(dense_operand(y, x, op), y.flat_values))


def _binary_method(fn, name, reverse=False):
    def method(self, other):
        if reverse:
            return binary(fn, f"RaggedTensor.{name}", other, self)
        return binary(fn, f"RaggedTensor.{name}", self, other)
    method.__name__ = name
    return method


def _truediv(a, b):
    from xlaflow.math_extra import truediv
    return truediv(a, b)


def _bool_only(fn, name):
    """fn for TF's &, |, ^, ~ on RaggedTensors: tf.math.logical_*, which take bool only
    (jnp's would read numbers as truth values, silently)."""
    def logical(*operands):
        for value in operands:
            dtype = np.dtype(bool) if isinstance(value, bool) else \
                np.dtype(getattr(value, "dtype", type(value)))
            if dtype != np.bool_:
                raise TypeError(f"xf.RaggedTensor.{name}: TF's logical operators take bool "
                                f"values; received {dtype} (compare first, e.g. rt > 0, or "
                                "cast with xf.cast(rt, xf.bool))")
        return fn(*operands)
    return logical


_OPERATORS = {"add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply,
              "truediv": _truediv, "floordiv": jnp.floor_divide, "mod": jnp.remainder,
              "pow": jnp.power, "and": _bool_only(jnp.logical_and, "__and__"),
              "or": _bool_only(jnp.logical_or, "__or__"),
              "xor": _bool_only(jnp.logical_xor, "__xor__")}
for _name, _fn in _OPERATORS.items():
    setattr(RaggedTensor, f"__{_name}__", _binary_method(_fn, f"__{_name}__"))
    setattr(RaggedTensor, f"__r{_name}__", _binary_method(_fn, f"__r{_name}__", True))
for _name, _fn in {"lt": jnp.less, "le": jnp.less_equal, "gt": jnp.greater,
                   "ge": jnp.greater_equal}.items():
    setattr(RaggedTensor, f"__{_name}__", _binary_method(_fn, f"__{_name}__"))


def _equality(fn, name, differ):
    """TF's RaggedTensor == and !=: element-wise, but `differ` (False for ==, True for !=)
    when `other` is None or does not broadcast against self (TF's tensor_equals)."""
    def method(self, other):
        if other is None:
            return differ
        try:
            return binary(fn, f"RaggedTensor.{name}", self, other)
        except (InvalidArgumentError, ValueError):
            return differ
    method.__name__ = name
    return method


RaggedTensor.__eq__ = _equality(jnp.equal, "__eq__", False)
RaggedTensor.__ne__ = _equality(jnp.not_equal, "__ne__", True)
for _name, _fn in {"neg": jnp.negative, "abs": jnp.abs,
                   "invert": _bool_only(jnp.logical_not, "__invert__"),
                   "pos": operator.pos}.items():
    setattr(RaggedTensor, f"__{_name}__",
            (lambda fn: lambda self: rebuild(self, fn(self.flat_values)))(_fn))


# -- reductions ------------------------------------------------------------------------
def _segment(kind, data, ids, count):
    from xlaflow.segment_ops import _extreme, _reduce

    if kind in ("any", "all"):
        out = _reduce("max" if kind == "any" else "min", data.astype(jnp.int32), ids, count,
                      0 if kind == "any" else 1)
        return out.astype(bool)
    if kind in ("max", "min"):
        return _reduce(kind, data, ids, count, _extreme(data.dtype, kind == "min", kind))
    return _reduce(kind, data, ids, count, None)


_DENSE = {"sum": jnp.sum, "max": jnp.max, "min": jnp.min, "prod": jnp.prod,
          "any": jnp.any, "all": jnp.all}


def reduce(kind, rt, axis=None, keepdims=False):
    """TF's ragged reduce_<kind> (sum, mean, max, min, prod, any, all, variance, std)."""
    op = f"reduce_{kind}"
    if kind in ("variance", "std"):  # TF's: E[x^2] - E[x]^2, clipped at 0 (may round < 0)
        def combine(a, b):
            out = jnp.maximum(a - jnp.square(b), 0)
            return jnp.sqrt(out) if kind == "std" else out
        of_square = reduce("mean", rebuild(rt, jnp.square(rt.flat_values)), axis, keepdims)
        mean = reduce("mean", rt, axis, keepdims)
        if isinstance(mean, RaggedTensor):
            return rebuild(mean, combine(of_square.flat_values, mean.flat_values))
        return combine(of_square, mean)
    if kind == "mean":  # TF: the sum over the count, divided as `/` (ints give floats)
        total = reduce("sum", rt, axis, keepdims)
        if _is_row_axis(axis, rt) and not isinstance(total, RaggedTensor):
            # each row's values: its count is its length (one segment sum, not two)
            lengths = rt.row_lengths().astype(total.dtype)
            return _truediv(total, lengths.reshape(lengths.shape + (1,) * (total.ndim - 1)))
        count = reduce("sum", rebuild(rt, jnp.ones_like(rt.flat_values)), axis, keepdims)
        if isinstance(total, RaggedTensor):
            return rebuild(total, _truediv(total.flat_values, count.flat_values))
        return _truediv(total, count)
    rank = rt.ndim
    if axis is None:
        axes = list(range(rank))
    else:
        given = list(axis) if isinstance(axis, (list, tuple)) else \
            np.asarray(axis).reshape(-1).tolist() if _known_ints(axis) else [axis]
        axes = []
        for a in given:
            a = int(a) if _known_ints(a) and np.ndim(a) == 0 else a  # TF takes axis tensors
            if not isinstance(a, (int, np.integer)) or not -rank <= a < rank:
                raise ValueError(f"xf.{op}: axis must be ints in [{-rank}, {rank}); received "
                                 f"{axis!r}")
            axes.append(int(a) % rank)
        axes = sorted(set(axes))
    if axes == list(range(rank)):
        if keepdims:
            raise NotImplementedError(f"xf.{op}: keepdims=True over every axis of a "
                                      "RaggedTensor is not provided; reduce its flat_values")
        return _DENSE[kind](rt.flat_values)
    result = rt
    for a in reversed(axes):  # innermost first: the outer axes keep their numbering
        result = _reduce_axis(kind, result, a, keepdims, op)
    return result


def _is_row_axis(axis, rt):
    """Whether `axis` is exactly axis 1 of a RaggedTensor of ragged_rank 1 (each row)."""
    if rt.ragged_rank != 1 or isinstance(axis, (list, tuple)) and len(axis) != 1:
        return False
    a = axis[0] if isinstance(axis, (list, tuple)) else axis
    if not (isinstance(a, (int, np.integer)) or _known_ints(a) and np.ndim(a) == 0):
        return False
    return int(a) % rt.ndim == 1


def _known_ints(value):
    """Whether `value` is an integer array (an axis tensor) whose values are known."""
    return isinstance(value, (np.ndarray, np.generic, jnp.ndarray)) and not traced(value) \
        and jnp.issubdtype(value.dtype, jnp.integer)


def _reduce_axis(kind, x, axis, keepdims, op):
    """TF's ragged_reduce_aggregate for one axis: axis 0 combines the rows element by
    element, axis 1 each row's values; deeper axes reduce inside the values."""
    if not isinstance(x, RaggedTensor):
        return _DENSE[kind](x, axis=axis, keepdims=keepdims)
    if axis > 1:
        inner = _reduce_axis(kind, x.values, axis - 1, keepdims, op)
        return RaggedTensor._unchecked(inner, x.row_splits, x._uniform)
    if axis == 1:  # one segment per row (jittable when the values are dense)
        out = _segment_rows(kind, x.values, x.value_rowids(), x.nrows_static, op)
    else:  # segment j gathers element j of every row: as many as the longest row
        need_known(op + " over axis 0", "the longest row", x.row_splits)
        lengths = np.asarray(x.row_lengths())
        rows = x.value_rowids()
        within = jnp.arange(rows.shape[0], dtype=rows.dtype) - x.row_splits[rows]
        out = _segment_rows(kind, x.values, within, int(lengths.max(initial=0)), op)
    return _expand(out, axis) if keepdims else out


def _segment_rows(kind, data, ids, count, op):
    """TF's _ragged_segment_aggregate: rows of `data` combined by segment id; RaggedTensor
    rows combine element by element into a row as long as the segment's longest (eager)."""
    if not isinstance(data, RaggedTensor):
        return _segment(kind, data, ids, count)
    need_known(op + " over an outer ragged axis", "the rows' lengths", data.row_splits, ids)
    lengths = np.asarray(data.row_lengths()).astype(np.int64)
    host_ids = np.asarray(ids).astype(np.int64)
    longest = np.zeros(count, np.int64)
    np.maximum.at(longest, host_ids, lengths)
    splits = np.concatenate([[0], np.cumsum(longest)])
    rows = np.repeat(np.arange(lengths.size), lengths)  # the row of each value
    within = np.arange(rows.size) - np.asarray(data.row_splits).astype(np.int64)[rows]
    values = _segment_rows(kind, data.values, jnp.asarray(splits[host_ids[rows]] + within),
                           int(splits[-1]), op)
    return RaggedTensor._unchecked(values, jnp.asarray(splits, data.row_splits.dtype))


def _expand(out, axis):
    """keepdims: a size-1 dimension at `axis` (0 or 1), a uniform one for a RaggedTensor
    (TF's ragged expand_dims)."""
    if not isinstance(out, RaggedTensor):
        return jnp.expand_dims(out, axis)
    if axis == 0:
        return RaggedTensor.from_uniform_row_length(out, out.nrows_static, nrows=1)
    return RaggedTensor.from_uniform_row_length(out, 1, nrows=out.nrows_static)
