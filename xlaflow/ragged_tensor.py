"""tf.RaggedTensor: rows of different lengths as TF holds them, a flat `values` array (or a
RaggedTensor, one more ragged dimension) cut into rows by `row_splits`.

Registered as a JAX pytree (values and row_splits are its leaves), so a RaggedTensor passes
through xf.function and jax.jit as argument and result; the sizes are static to XLA, so
each new number of rows or of values traces again. row_splits are TF's int64, held as JAX
holds int64 (int32 unless 64-bit mode is on); int32 splits stay int32, as TF's.
Constructors check eagerly what TF's validate=True asserts; traced splits cannot be checked.
A row partition made by from_uniform_row_length keeps its row length as static data (the
pytree's aux), so `shape` shows it as TF does. Factory inputs are checked in
ragged_checks.py; conversions live in ragged_convert.py, indexing in ragged_getitem.py,
math in ragged_math.py, tile/reverse/map_fn in ragged_array_ops.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.ragged_checks import (  # noqa: F401  (the other ragged modules import them here)
    _fail,
    check_splits,
    flat_array,
    need_known,
    nvals,
    partition,
    splits_dtype,
)
from xlaflow.sparse_tensor import traced
from xlaflow.tensor_shape import TensorShape


@jax.tree_util.register_pytree_node_class
class RaggedTensor:
    """TF's RaggedTensor: row i is values[row_splits[i]:row_splits[i + 1]].

    Build one with the from_* classmethods or xf.ragged.constant (the constructor is
    private, as TF's). Each new number of rows or values traces an xf.function again.
    """

    def __init__(self, *args, **kwargs):
        raise ValueError("RaggedTensor constructor is private; use one of the factory "
                         "methods instead (e.g. xf.RaggedTensor.from_row_lengths or "
                         "xf.ragged.constant)")

    # -- pytree ---------------------------------------------------------------------------
    def tree_flatten(self):
        # the uniform row length (a Python int or None) is static: part of the treedef, so
        # a function traces again for another one, as for another size
        return (self._values, self._row_splits), self._uniform

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        out = object.__new__(cls)  # JAX rebuilds with tracers or sentinels: no checks
        out._values, out._row_splits = leaves
        out._uniform = aux
        return out

    @classmethod
    def _unchecked(cls, values, row_splits, uniform_row_length=None):
        return cls.tree_unflatten(uniform_row_length, (values, row_splits))

    # -- factories ------------------------------------------------------------------------
    @classmethod
    def from_row_splits(cls, values, row_splits, name=None, validate=True):
        """Row i is values[row_splits[i]:row_splits[i + 1]]."""
        values = flat_array(values, "from_row_splits")
        splits = partition(row_splits, "row_splits", "from_row_splits")
        if validate:
            check_splits("from_row_splits", "row_splits", splits, nvals(values))
        return cls._build(values, splits, "from_row_splits")

    @classmethod
    def from_row_lengths(cls, values, row_lengths, name=None, validate=True):
        """Row i holds the next row_lengths[i] values."""
        values = flat_array(values, "from_row_lengths")
        lengths = partition(row_lengths, "row_lengths", "from_row_lengths")
        if validate and not traced(lengths):
            host = np.asarray(lengths)
            if np.any(host < 0):
                _fail("from_row_lengths", f"row_lengths must be >= 0; received "
                                          f"{host.tolist()[:20]}")
            if host.sum() != nvals(values):
                _fail("from_row_lengths", f"sum(row_lengths) = {int(host.sum())} must equal "
                                          f"the number of values, {nvals(values)}")
        splits = jnp.concatenate([jnp.zeros(1, lengths.dtype), jnp.cumsum(lengths)])
        return cls._build(values, splits.astype(lengths.dtype), "from_row_lengths")

    @classmethod
    def from_value_rowids(cls, values, value_rowids, nrows=None, name=None, validate=True):
        """Value j sits in row value_rowids[j] (sorted); `nrows` counts trailing empty rows
        and must be given inside xf.function (it sets the result's size)."""
        from xlaflow.ragged_rows import segment_ids_to_row_splits

        values = flat_array(values, "from_value_rowids")
        rowids = partition(value_rowids, "value_rowids", "from_value_rowids")
        if rowids.shape[0] != nvals(values):
            _fail("from_value_rowids", f"value_rowids has {rowids.shape[0]} entries but "
                                       f"values has {nvals(values)} rows")
        if validate and not traced(rowids):
            host = np.asarray(rowids)
            if np.any(host < 0) or np.any(np.diff(host) < 0):
                _fail("from_value_rowids", f"value_rowids must be >= 0 and sorted; "
                                           f"received {host.tolist()[:20]}")
            if nrows is not None and not traced(nrows) and host.size and \
                    host[-1] >= int(nrows):
                _fail("from_value_rowids", f"nrows = {int(nrows)} must be greater than "
                                           f"value_rowids[-1] = {int(host[-1])}")
        splits = segment_ids_to_row_splits(rowids, nrows, out_type=rowids.dtype,
                                           op="RaggedTensor.from_value_rowids")
        return cls._build(values, splits, "from_value_rowids")

    @classmethod
    def from_row_starts(cls, values, row_starts, name=None, validate=True):
        """Row i starts at row_starts[i] and ends where the next one starts."""
        values = flat_array(values, "from_row_starts")
        starts = partition(row_starts, "row_starts", "from_row_starts")
        splits = jnp.concatenate([starts, jnp.full(1, nvals(values), starts.dtype)])
        if validate:
            check_splits("from_row_starts", "row_starts (+ [nvals])", splits, nvals(values))
        return cls._build(values, splits, "from_row_starts")

    @classmethod
    def from_row_limits(cls, values, row_limits, name=None, validate=True):
        """Row i ends at row_limits[i] and starts where the previous one ends."""
        values = flat_array(values, "from_row_limits")
        limits = partition(row_limits, "row_limits", "from_row_limits")
        splits = jnp.concatenate([jnp.zeros(1, limits.dtype), limits])
        if validate:
            check_splits("from_row_limits", "([0] +) row_limits", splits, nvals(values))
        return cls._build(values, splits, "from_row_limits")

    @classmethod
    def from_uniform_row_length(cls, values, uniform_row_length, nrows=None, validate=True,
                                name=None):
        """Every row holds the next `uniform_row_length` values: a uniform dimension that
        counts in ragged_rank (TF's). The length is static here (it sets the shape)."""
        op = "from_uniform_row_length"
        values = flat_array(values, op)
        if traced(uniform_row_length) or traced(nrows):
            raise TypeError(f"xf.RaggedTensor.{op}: uniform_row_length and nrows set the "
                            "result's shape, which XLA needs when the function is traced; "
                            "pass Python ints")
        length = np.asarray(uniform_row_length)
        if length.ndim != 0 or length.dtype.kind not in "iu" or int(length) < 0:
            raise ValueError(f"xf.RaggedTensor.{op}: uniform_row_length must be an integer "
                             f">= 0; received {uniform_row_length!r}")
        length, count = int(length), nvals(values)
        if nrows is None:
            nrows = count // length if length else 0
        nrows = int(nrows)
        if validate and (nrows < 0 or nrows * length != count):
            _fail(op, f"nrows ({nrows}) * uniform_row_length ({length}) must equal the "
                      f"number of values, {count}")
        # the splits take the values' splits dtype (or int32 if the length is int32), as TF
        given = np.dtype(getattr(uniform_row_length, "dtype", np.int64))
        dtype = values.row_splits.dtype if isinstance(values, RaggedTensor) else \
            splits_dtype(np.int32 if given == np.int32 else None)
        out = cls._build(values, jnp.arange(nrows + 1, dtype=dtype) * length, op)
        out._uniform = length
        return out

    @classmethod
    def from_nested_row_splits(cls, flat_values, nested_row_splits, name=None,
                               validate=True):
        """One ragged dimension per row_splits vector, outermost first."""
        if isinstance(nested_row_splits, (np.ndarray, jax.Array)) or not \
                isinstance(nested_row_splits, (list, tuple)):
            raise TypeError("xf.RaggedTensor.from_nested_row_splits: nested_row_splits must "
                            "be a list or tuple of 1-D row_splits; received "
                            f"{type(nested_row_splits).__name__}")
        result = flat_array(flat_values, "from_nested_row_splits")
        for splits in reversed(nested_row_splits):
            result = cls.from_row_splits(result, splits, validate=validate)
        return result

    @classmethod
    def from_nested_row_lengths(cls, flat_values, nested_row_lengths, name=None,
                                validate=True):
        """One ragged dimension per row_lengths vector, outermost first."""
        if not isinstance(nested_row_lengths, (list, tuple)):
            raise TypeError("xf.RaggedTensor.from_nested_row_lengths: nested_row_lengths "
                            "must be a list or tuple of 1-D row_lengths; received "
                            f"{type(nested_row_lengths).__name__}")
        result = flat_array(flat_values, "from_nested_row_lengths")
        for lengths in reversed(nested_row_lengths):
            result = cls.from_row_lengths(result, lengths, validate=validate)
        return result

    @classmethod
    def from_tensor(cls, tensor, lengths=None, padding=None, ragged_rank=1, name=None,
                    row_splits_dtype="int64"):
        """The rows of a dense tensor (all as long, or cut at `lengths` or before trailing
        `padding`: those two need known values, so they run eagerly)."""
        from xlaflow.ragged_convert import from_tensor

        return from_tensor(tensor, lengths, padding, ragged_rank, row_splits_dtype)

    @classmethod
    def from_sparse(cls, st_input, name=None, row_splits_dtype="int64"):
        """A 2-D SparseTensor whose rows fill from column 0 (TF's ragged-right) as rows."""
        from xlaflow.ragged_convert import from_sparse

        return from_sparse(st_input, row_splits_dtype)

    @classmethod
    def _build(cls, values, splits, op):
        if isinstance(values, RaggedTensor) and values._row_splits.dtype != splits.dtype:
            raise ValueError(f"xf.RaggedTensor.{op}: the row_splits dtype {splits.dtype} "
                             f"differs from values' row_splits dtype "
                             f"{values._row_splits.dtype}; use with_row_splits_dtype first")
        return cls._unchecked(values, splits)

    # -- TF's attributes ------------------------------------------------------------------
    @property
    def values(self):
        return self._values

    @property
    def row_splits(self):
        return self._row_splits

    @property
    def flat_values(self):
        values = self._values
        while isinstance(values, RaggedTensor):
            values = values._values
        return values

    @property
    def nested_row_splits(self):
        out, rt = [], self
        while isinstance(rt, RaggedTensor):
            out.append(rt._row_splits)
            rt = rt._values
        return tuple(out)

    @property
    def ragged_rank(self):
        return len(self.nested_row_splits)

    @property
    def uniform_row_length(self):
        """The length of every row (a scalar of the splits dtype) when made by
        from_uniform_row_length, else None."""
        if self._uniform is None:
            return None
        return jnp.asarray(self._uniform, self._row_splits.dtype)

    @property
    def nrows_static(self):
        """The number of rows as a Python int (static to XLA)."""
        return self._row_splits.shape[0] - 1

    @property
    def shape(self):
        """TensorShape [nrows, None (each ragged dimension), inner uniform dims...]."""
        dims, level = [self.nrows_static], self
        while isinstance(level, RaggedTensor):  # each partition: its uniform length or None
            dims.append(level._uniform)
            level = level._values
        return TensorShape(dims + list(level.shape[1:]))

    def get_shape(self):
        return self.shape

    @property
    def ndim(self):
        return self.ragged_rank + len(self.flat_values.shape)

    @property
    def dtype(self):
        from xlaflow._host_text import is_string_dtype
        from xlaflow.tensors import string

        dtype = self.flat_values.dtype
        return string if is_string_dtype(dtype) else dtype

    @property
    def row_splits_dtype(self):
        return self._row_splits.dtype

    # -- row partition --------------------------------------------------------------------
    def nrows(self, out_type=None, name=None):
        return jnp.asarray(self.nrows_static, out_type or self._row_splits.dtype)

    def row_starts(self, name=None):
        return self._row_splits[:-1]

    def row_limits(self, name=None):
        return self._row_splits[1:]

    def row_lengths(self, axis=1, name=None):
        """Each row's length (axis 1), or a RaggedTensor of the lengths at a deeper axis."""
        if not isinstance(axis, (int, np.integer)) or not 1 <= axis <= self.ragged_rank:
            raise ValueError(f"xf.RaggedTensor.row_lengths: axis must be an int in "
                             f"[1, {self.ragged_rank}] (a ragged axis); received {axis!r}")
        if axis == 1:
            return self._row_splits[1:] - self._row_splits[:-1]
        return self.with_values(self._values.row_lengths(axis - 1))

    def nested_row_lengths(self, name=None):
        return tuple(s[1:] - s[:-1] for s in self.nested_row_splits)

    def value_rowids(self, name=None):
        """The row of each value (TF's value_rowids): sorted row ids, one per value."""
        lengths = self.row_lengths()
        return jnp.repeat(jnp.arange(self.nrows_static, dtype=lengths.dtype), lengths,
                          total_repeat_length=nvals(self._values))

    def nested_value_rowids(self, name=None):
        out, rt = [], self
        while isinstance(rt, RaggedTensor):
            out.append(rt.value_rowids())
            rt = rt._values
        return tuple(out)

    def bounding_shape(self, axis=None, name=None, out_type=None):
        """[nrows, the longest row at each ragged axis, inner dims...] as a 1-D tensor."""
        dtype = out_type or self._row_splits.dtype
        dims = [jnp.asarray(self.nrows_static, dtype)]
        for splits in self.nested_row_splits:
            dims.append(jnp.max(splits[1:] - splits[:-1], initial=0).astype(dtype))
        dims += [jnp.asarray(d, dtype) for d in self.flat_values.shape[1:]]
        shape = jnp.stack(dims)
        return shape if axis is None else shape[axis]

    # -- rebuilding -----------------------------------------------------------------------
    def with_values(self, new_values):
        """The same row partition over `new_values` (as many rows as values had); NumPy
        values stay NumPy, dtype and all (TF keeps the dtype; xf.data holds them so)."""
        # converting NumPy values would move them to the device (int64 becoming int32)
        if not (isinstance(new_values, np.ndarray) and new_values.ndim):
            new_values = flat_array(new_values, "with_values")
        if nvals(new_values) != nvals(self._values):
            raise ValueError(f"xf.RaggedTensor.with_values: new_values must have "
                             f"{nvals(self._values)} rows (as values); received "
                             f"{nvals(new_values)}")
        out = self._build(new_values, self._row_splits, "with_values")
        out._uniform = self._uniform
        return out

    def with_flat_values(self, new_values):
        """The same nested row partitions over `new_values`."""
        if isinstance(self._values, RaggedTensor):
            return self.with_values(self._values.with_flat_values(new_values))
        return self.with_values(new_values)

    def with_row_splits_dtype(self, dtype):
        dtype = splits_dtype(dtype)
        values = self._values.with_row_splits_dtype(dtype) \
            if isinstance(self._values, RaggedTensor) else self._values
        return self._unchecked(values, self._row_splits.astype(dtype), self._uniform)

    # -- conversions (ragged_convert.py) --------------------------------------------------
    def to_tensor(self, default_value=None, name=None, shape=None):
        from xlaflow.ragged_convert import to_tensor

        return to_tensor(self, default_value, shape)

    def to_list(self):
        from xlaflow.ragged_convert import to_list

        return to_list(self)

    def numpy(self):
        from xlaflow.ragged_convert import to_numpy

        return to_numpy(self)

    def to_sparse(self, name=None):
        from xlaflow.ragged_convert import to_sparse

        return to_sparse(self)

    def merge_dims(self, outer_axis, inner_axis):
        from xlaflow.ragged_convert import merge_dims

        return merge_dims(self, outer_axis, inner_axis)

    def __getitem__(self, key):
        from xlaflow.ragged_getitem import getitem

        return getitem(self, key)

    def __iter__(self):
        from xlaflow.ragged_convert import rows_known

        rows_known(self, "RaggedTensor.__iter__")
        return (self[i] for i in range(self.nrows_static))

    def __len__(self):
        return self.nrows_static

    def __array__(self, dtype=None, copy=None):
        # a TypeError, which sends xf ops to their RaggedTensor forms (_op_dispatch); NumPy
        # would otherwise read the rows as a ragged sequence
        raise TypeError("a RaggedTensor is not an array: use rt.to_tensor() (padded), "
                        "rt.flat_values, or rt.numpy() (TF's object array of rows)")

    # NumPy arrays and scalars on the left defer to the reflected operator (np.float32(2) *
    # rt, np_array + rt), as for a TF tensor, instead of failing in __array__
    __array_ufunc__ = None

    def __bool__(self):
        raise TypeError("a RaggedTensor has no truth value; reduce it first (e.g. "
                        "xf.reduce_any)")

    def __repr__(self):
        if traced(*jax.tree_util.tree_leaves(self)):
            return f"tf.RaggedTensor(values={self._values!r}, row_splits={self._row_splits!r})"
        return f"<tf.RaggedTensor {self.to_list()!r}>"

    __str__ = __repr__
    __hash__ = None  # == is element-wise, as TF's


# the operators and the dispatched ops need the class: attached once it exists
from xlaflow import ragged_dispatch, ragged_math  # noqa: F401

ragged_dispatch.register()
