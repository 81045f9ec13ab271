"""tf.SparseTensor: a COO tensor of `indices` [N, rank], `values` [N] and a `dense_shape`,
registered as a JAX pytree so it passes through xf.function and jax.jit like TF's does.

`dense_shape` is static (a tuple of Python ints, the pytree's aux data), because XLA compiles
static shapes: a SparseTensor whose dense shape is computed inside xf.function is refused.
Indices are TF's int64, which JAX keeps as int32 unless 64-bit mode is on. Eager
construction checks what TF's kernels check (lengths, rank, bounds); traced indices cannot be
checked, as in a TF graph, so the bounds check runs only where indices are known.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow._host_arrays import host_to_device
from xlaflow.tensor_shape import TensorShape
from xlaflow.tensors import convert_to_tensor, shapes_compatible


def index_dtype():
    """TF's int64 indices as JAX holds them: int64 with x64 on, else int32."""
    return jax.dtypes.canonicalize_dtype(jnp.int64)


def device_indices(host):
    """Host indices as a device array of index_dtype(), compiling nothing (jnp.asarray
    would compile a program for each new number of entries)."""
    return host_to_device(host, index_dtype())


def traced(*values):
    """Whether any of `values` is a JAX tracer (inside xf.function, jax.jit or jax.grad)."""
    return any(isinstance(v, jax.core.Tracer) for v in values)


def static_dense_shape(dense_shape, op="SparseTensor"):
    """`dense_shape` as a tuple of non-negative Python ints, or a ValueError naming it."""
    if isinstance(dense_shape, TensorShape):
        dense_shape = dense_shape.as_list()
    if traced(dense_shape):
        raise ValueError(
            f"xf.{op}: dense_shape must be known when the SparseTensor is built (XLA compiles "
            f"static shapes), but received a traced tensor {dense_shape}; pass Python ints, "
            "e.g. a shape computed outside xf.function or from a static .shape")
    try:
        dims = np.asarray(dense_shape)
        if dims.ndim != 1 or (dims.size and dims.dtype.kind not in "iu"):
            raise TypeError
        dims = tuple(int(d) for d in dims)
    except (TypeError, ValueError):
        raise ValueError(f"xf.{op}: dense_shape must be a 1-D list of integers; received "
                         f"{dense_shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"xf.{op}: dense_shape must be non-negative; received {list(dims)}")
    return dims


def _checked_indices(indices, dense_shape, op):
    """indices as an [N, rank] integer array; eager ones checked inside `dense_shape`."""
    rank = len(dense_shape)
    limit = np.iinfo(index_dtype()).max
    if any(d - 1 > limit for d in dense_shape):
        raise ValueError(f"xf.{op}: dense_shape {list(dense_shape)} has positions past "
                         f"{index_dtype()} indices ({limit}); enable 64-bit mode with "
                         "jax.config.update('jax_enable_x64', True) before making tensors")
    if traced(indices):
        if indices.ndim != 2 or indices.shape[1] != rank:
            raise ValueError(f"xf.{op}: indices must have shape [N, {rank}] (rank of "
                             f"dense_shape {list(dense_shape)}); received {indices.shape}")
        if not jnp.issubdtype(indices.dtype, jnp.integer):
            raise ValueError(f"xf.{op}: indices must be integers; received {indices.dtype}")
        return indices.astype(index_dtype())
    host = np.asarray(indices)
    if host.size == 0:  # [] is TF's no entries, any rank; [[]] a scalar's one entry
        host = (host.reshape(0, rank) if host.ndim < 2 else host).astype(np.int64)
    if host.dtype.kind not in "iu":
        raise ValueError(f"xf.{op}: indices must be integers; received dtype {host.dtype}")
    if host.ndim != 2 or host.shape[1] != rank:
        raise ValueError(f"xf.{op}: indices must have shape [N, {rank}] (rank of dense_shape "
                         f"{list(dense_shape)}); received shape {host.shape}")
    outside = (host < 0) | (host >= np.asarray(dense_shape, np.int64))
    if outside.any():
        row = int(np.argmax(outside.any(axis=1)))
        raise ValueError(f"xf.{op}: indices[{row}] = {host[row].tolist()} is outside "
                         f"dense_shape {list(dense_shape)}")
    return device_indices(host)


def _checked_values(values, count, op):
    if not traced(values):
        values = convert_to_tensor(values)
    if not isinstance(values, jax.Array):
        raise NotImplementedError(
            f"xf.{op}: values must be numeric or bool (XLA holds no strings); received "
            f"{getattr(values, 'dtype', type(values))}: keep text entries in NumPy next to "
            "the indices")
    if values.ndim != 1 or values.shape[0] != count:
        raise ValueError(f"xf.{op}: values must have shape [N] = [{count}] (one per row of "
                         f"indices); received shape {values.shape}")
    return values


def on_device(sp, op):
    """`sp` with jax leaves: a Dataset's element holds NumPy (int64 indices, any values),
    which xf.sparse ops take as TF's ops take tf.data's tensors."""
    if not (isinstance(sp._indices, np.ndarray) or isinstance(sp._values, np.ndarray)):
        return sp
    indices = device_indices(sp._indices)
    return SparseTensor._unchecked(indices, _checked_values(sp._values, indices.shape[0], op),
                                   sp._dense_shape)


@jax.tree_util.register_pytree_node_class
class SparseTensor:
    """TF's SparseTensor: dense[tuple(indices[i])] = values[i], zero elsewhere.

    A pytree: indices and values are its leaves, dense_shape its static aux data.
    """

    def __init__(self, indices, values, dense_shape):
        dense_shape = static_dense_shape(dense_shape)
        if not traced(indices):
            indices = np.asarray(indices)
        indices = _checked_indices(indices, dense_shape, "SparseTensor")
        values = _checked_values(values, indices.shape[0], "SparseTensor")
        self._indices, self._values, self._dense_shape = indices, values, dense_shape

    # -- pytree ---------------------------------------------------------------------------
    def tree_flatten(self):
        return (self._indices, self._values), self._dense_shape

    @classmethod
    def tree_unflatten(cls, dense_shape, leaves):
        # JAX rebuilds with tracers, shape structs or sentinels: no checks here
        out = object.__new__(cls)
        out._indices, out._values = leaves
        out._dense_shape = dense_shape
        return out

    @classmethod
    def _unchecked(cls, indices, values, dense_shape):
        """Built by xf.sparse ops whose results are valid by construction."""
        return cls.tree_unflatten(tuple(int(d) for d in dense_shape), (indices, values))

    # -- TF's attributes ------------------------------------------------------------------
    @property
    def indices(self):
        return self._indices

    @property
    def values(self):
        return self._values

    @property
    def dense_shape(self):
        """TF's int64 shape vector, as a host array with `.numpy()` (a HostTensor, as xf.shape
        gives NumPy): known inside xf.function too, so it can build another SparseTensor."""
        from xlaflow.data.host_tensor import HostTensor  # xf.data imports this module

        return np.asarray(self._dense_shape, np.int64).view(HostTensor)

    @property
    def shape(self):
        return TensorShape(list(self._dense_shape))

    def get_shape(self):
        return self.shape

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def ndim(self):
        return len(self._dense_shape)

    def with_values(self, new_values):
        """The same indices and dense_shape with `new_values` (TF's with_values)."""
        values = _checked_values(new_values, self._indices.shape[0], "SparseTensor.with_values")
        return self._unchecked(self._indices, values, self._dense_shape)

    def __repr__(self):
        return (f"SparseTensor(indices={_tensor_text(self._indices)}, "
                f"values={_tensor_text(self._values)}, "
                f"dense_shape={_tensor_text(self.dense_shape)})")

    # -- TF's sparse (op) dense element-wise products -------------------------------------
    def __mul__(self, other):
        return _cwise(self, other, jnp.multiply, "__mul__")

    __rmul__ = __mul__

    def __truediv__(self, other):
        return _cwise(self, other, jnp.true_divide, "__truediv__")

    def __bool__(self):
        raise TypeError("a SparseTensor has no truth value; compare its values or use "
                        "xf.sparse.to_dense first")


def _tensor_text(x):
    """TF's eager tensor text, `tf.Tensor(<values>, shape=..., dtype=...)`."""
    if traced(x):
        return repr(x)
    host = np.asarray(x)
    text = str(host)
    return f"tf.Tensor({chr(10) if chr(10) in text else ''}{text}, shape={host.shape}, " \
           f"dtype={host.dtype})"


def _cwise(sp, other, fn, name):
    """TF's sparse_dense_cwise_{mul,div}: `other` (a dense tensor or scalar) broadcast to
    the dense shape and read at the entries; the result keeps sp's indices."""
    sp = on_device(sp, f"SparseTensor.{name}")
    if isinstance(other, SparseTensor):
        raise TypeError(f"SparseTensor.{name}: both operands are SparseTensors; TF defines "
                        "sparse (op) dense only: densify one with xf.sparse.to_dense")
    dense = jnp.asarray(other) if traced(other) else convert_to_tensor(other)
    try:
        fits = np.broadcast_shapes(dense.shape, sp._dense_shape) == sp._dense_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"SparseTensor.{name}: the dense operand's shape {dense.shape} does "
                         f"not broadcast to the sparse dense_shape {list(sp._dense_shape)} "
                         "(TF broadcasts the dense side only)")
    return sp._unchecked(sp._indices, _cwise_values(sp._indices, sp._values, dense, fn,
                                                    sp._dense_shape), sp._dense_shape)


@functools.partial(jax.jit, static_argnames=("fn", "shape"))
def _cwise_values(indices, values, dense, fn, shape):
    """fn(values, the broadcast dense operand at the entries): one program, not one per
    eager op (each would compile again for every new number of entries)."""
    picked = jnp.broadcast_to(dense, shape)[tuple(indices[:, d] for d in range(len(shape)))]
    return fn(values, picked)


class SparseTensorSpec:
    """TF's tf.SparseTensorSpec: a SparseTensor's dense shape (None where sizes vary) and
    dtype, as a Dataset's element_spec describes a sparse component."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape=None, dtype="float32"):
        from xlaflow.tensors import SpecShape, TensorSpec

        if isinstance(shape, TensorShape):
            shape = None if shape.rank is None else shape.as_list()
        # TensorSpec's dtype rules (text of any NumPy form is tf.string)
        self.dtype = TensorSpec((), dtype).dtype
        self.shape = None if shape is None else SpecShape(
            None if d is None else int(d) for d in shape)

    @classmethod
    def from_value(cls, value):
        """The spec that exactly describes the SparseTensor `value`."""
        if not isinstance(value, SparseTensor):
            raise TypeError(f"SparseTensorSpec.from_value: value must be a SparseTensor; "
                            f"received {type(value).__name__}")
        return cls(value._dense_shape, value.dtype)

    def is_compatible_with(self, other):
        """True if `other` (a SparseTensorSpec or SparseTensor) fits this shape and dtype."""
        if not isinstance(other, (SparseTensorSpec, SparseTensor)):
            return False
        other_shape = other.shape if isinstance(other, SparseTensorSpec) else \
            tuple(other._dense_shape)
        if np.dtype(self.dtype) != np.dtype(other.dtype) and not (
                np.dtype(self.dtype).kind in "USO" and np.dtype(other.dtype).kind in "USO"):
            return False
        return self.shape_compatible(other_shape)

    def shape_compatible(self, shape):
        return shapes_compatible(self.shape, shape)

    def __eq__(self, other):
        return isinstance(other, SparseTensorSpec) and self.shape == other.shape \
            and self.dtype == other.dtype

    def __hash__(self):
        return hash(("sparse", self.shape, self.dtype))

    def __repr__(self):
        shape = "None" if self.shape is None else repr(list(self.shape))
        return f"SparseTensorSpec(TensorShape({shape}), tf.{self.dtype.name})"
