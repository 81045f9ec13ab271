"""tf.TensorShape: a shape whose rank or dimensions may be unknown (None), for code that
writes `tf.TensorShape(x.shape).as_list()`; it equals the tuple of its dimensions.
"""

from __future__ import annotations

import math
import operator


def _dimension(d, shape):
    if d is None:
        return None
    if hasattr(d, "value") and not hasattr(d, "__index__"):  # a TF-style Dimension
        return _dimension(d.value, shape)
    try:
        value = operator.index(d)
    except TypeError as e:
        raise TypeError(f"TensorShape: dimensions must be ints or None; received {d!r} in "
                        f"{shape!r}") from e
    if value < 0:
        raise ValueError(f"TensorShape: dimensions must be >= 0; received {value} in "
                         f"{shape!r}")
    return value


class TensorShape:
    """The shape `dims` (a sequence of ints or None), or an unknown rank (`dims=None`)."""

    __slots__ = ("_dims",)

    def __init__(self, dims):
        if isinstance(dims, TensorShape):
            dims = dims._dims
        if dims is None:
            self._dims = None
            return
        try:
            items = list(dims)
        except TypeError:
            items = [dims]  # TF reads a single int as a one-dimensional shape
        self._dims = tuple(_dimension(d, dims) for d in items)

    @property
    def rank(self):
        """The number of dimensions, or None when unknown."""
        return None if self._dims is None else len(self._dims)

    ndims = rank

    @property
    def dims(self):
        return None if self._dims is None else list(self._dims)

    def as_list(self):
        """The dimensions as a list (None for unknown ones); an unknown rank is an error."""
        if self._dims is None:
            raise ValueError("as_list() is not defined on an unknown TensorShape.")
        return list(self._dims)

    def is_fully_defined(self):
        return self._dims is not None and all(d is not None for d in self._dims)

    def num_elements(self):
        """The product of the dimensions, or None unless the shape is fully defined."""
        return math.prod(self._dims) if self.is_fully_defined() else None

    def is_compatible_with(self, other):
        """Whether some shape fits both (unknown ranks and dimensions fit anything)."""
        other = as_shape(other)
        if self._dims is None or other._dims is None:
            return True
        return len(self._dims) == len(other._dims) and all(
            a is None or b is None or a == b for a, b in zip(self._dims, other._dims))

    def merge_with(self, other):
        """The most specific shape compatible with both; ValueError if there is none."""
        other = as_shape(other)
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {self} and {other} are not compatible")
        if self._dims is None:
            return other
        if other._dims is None:
            return self
        return TensorShape([a if a is not None else b for a, b in zip(self._dims, other._dims)])

    def concatenate(self, other):
        other = as_shape(other)
        if self._dims is None or other._dims is None:
            return TensorShape(None)
        return TensorShape(self._dims + other._dims)

    def with_rank(self, rank):
        if self._dims is not None and len(self._dims) != rank:
            raise ValueError(f"Shape {self} must have rank {rank}")
        return self if self._dims is not None else TensorShape([None] * rank)

    def with_rank_at_least(self, rank):
        if self._dims is not None and len(self._dims) < rank:
            raise ValueError(f"Shape {self} must have rank at least {rank}")
        return self

    def with_rank_at_most(self, rank):
        if self._dims is not None and len(self._dims) > rank:
            raise ValueError(f"Shape {self} must have rank at most {rank}")
        return self

    def __add__(self, other):
        """`shape + other` is `shape.concatenate(other)`, as in TF."""
        return self.concatenate(other)

    def __radd__(self, other):
        return as_shape(other).concatenate(self)

    def assert_is_compatible_with(self, other):
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {self} and {as_shape(other)} are incompatible")

    def __len__(self):
        if self._dims is None:
            raise ValueError("Cannot take the length of shape with unknown rank.")
        return len(self._dims)

    def __iter__(self):
        if self._dims is None:
            raise ValueError("Cannot iterate over a shape with unknown rank.")
        return iter(self._dims)

    def __getitem__(self, key):
        """An int or None for an index (TF 2's behaviour); a TensorShape for a slice."""
        if self._dims is None:
            if isinstance(key, slice):
                return TensorShape(None)
            return None
        if isinstance(key, slice):
            return TensorShape(self._dims[key])
        return self._dims[key]

    def __bool__(self):
        return self._dims is not None

    def __eq__(self, other):
        try:
            other = as_shape(other)
        except (TypeError, ValueError):
            return NotImplemented
        return self._dims == other._dims

    def __hash__(self):
        return hash(self._dims)  # equal to the tuple, so hashes as the tuple does

    def __repr__(self):
        if self._dims is None:
            return "TensorShape(None)"
        return f"TensorShape({list(self._dims)})"

    def __str__(self):
        if self._dims is None:
            return "<unknown>"
        inner = ", ".join("None" if d is None else str(d) for d in self._dims)
        return f"({inner},)" if len(self._dims) == 1 else f"({inner})"


def as_shape(shape):
    """`shape` as a TensorShape (TF's tf.compat... as_shape)."""
    return shape if isinstance(shape, TensorShape) else TensorShape(shape)


def ensure_shape(x, shape, name=None):
    """TF's tf.ensure_shape: `x` as a tensor, after checking its shape fits `shape` (None
    for a dimension or the rank that may be anything); InvalidArgumentError otherwise."""
    import jax.numpy as jnp

    from xlaflow.errors import InvalidArgumentError

    expected = as_shape(shape)
    value = jnp.asarray(x)
    if not expected.is_compatible_with(TensorShape(value.shape)):
        have = ",".join(str(d) for d in value.shape)
        want = "?" if expected.rank is None else ",".join(
            "?" if d is None else str(d) for d in expected)
        raise InvalidArgumentError(None, None, f"ensure_shape: shape of tensor "
                                   f"{name or 'x'} [{have}] is not compatible with the "
                                   f"expected shape [{want}]")
    return value
