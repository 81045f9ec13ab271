"""What a tensor `for` loop can iterate: a range with traced bounds, a tensor, and
enumerate()/zip() over them, nested as the user wrote them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _index_bounds
from xlaflow.autograph.operators.dispatch import is_traced


class TensorRange:
    """`range(...)` with a traced bound: only a `for` loop can iterate it (as a lax loop).

    `item` maps the counter to what the loop target receives: reversed(), enumerate() and
    zip() over such a range are TensorRanges over 0..n-1 whose item builds the element.
    `what` (the call that made it) and `where` (its line) name it in the errors raised when
    it is used as a tensor, which it cannot be: its length is known only at run time."""

    def __init__(self, start, stop, step, item=None, what="range()", where=None):
        self.start, self.stop, self.step, self.item = start, stop, step, item
        self.what, self.where = what, where
        self.cast_only = item is None  # whether its items are its values (maybe retyped)

    def trips(self):
        """How many values the range has (traced when a bound is). Exact for any bounds of
        the counter's type: the distance between them, which may not fit it, is taken as
        the unsigned type of the same width."""
        start, stop, step = self.start, self.stop, self.step
        if not any(is_traced(v) for v in (start, stop, step)):
            return len(range(start, stop, step))
        dtype = jnp.result_type(start, stop, step)
        unsigned = jnp.uint64 if jnp.dtype(dtype).itemsize == 8 else jnp.uint32
        up = step > 0
        span = jnp.where(up, stop - start, start - stop).astype(unsigned)
        stride = jnp.asarray(abs(step), unsigned) if not is_traced(step) else \
            jnp.where(up, step, -step).astype(unsigned)  # -(-2**31) wraps to 2**31: right
        # unsigned: the count itself may pass the signed maximum
        return jnp.where(jnp.where(up, stop > start, start > stop), (span - 1) // stride + 1, 0)

    def element(self, k):
        """What the loop target gets for the k-th value."""
        value = self.value(k)
        return value if self.item is None else self.item(value)

    def value(self, k):
        """The k-th value (a traced k is fine). Computed in the counter's type, whose
        wrap-around gives the right value wherever the value itself fits."""
        start, step = self.start, self.step
        dtype = jnp.result_type(start, self.stop, step)
        if is_traced(k) and jnp.result_type(k) != dtype:
            k = k.astype(dtype)  # as is otherwise: a weakly typed counter stays weak
        if not is_traced(step) and step < 0 and jnp.issubdtype(dtype, jnp.unsignedinteger):
            value = start - k * -step  # an unsigned counter going down
        else:
            value = start + k * step
        return value

    def _not_a_tensor(self, *args, **kwargs):
        at = f"{self.where}: " if self.where else ""
        raise TypeError(
            f"{at}{self.what} with a tensor bound can only drive a `for` loop in converted "
            "code (as one XLA loop): it is not a tensor, since its length is known only when "
            "the program runs and XLA arrays have static shapes. Give it a Python int bound "
            "(such as x.shape[0]) to get a tensor, or compute inside a `for` loop over it.")

    __iter__ = __len__ = __getitem__ = __array__ = __jax_array__ = _not_a_tensor
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _not_a_tensor
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _not_a_tensor
    __mod__ = __rmod__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _not_a_tensor
    __neg__ = __pos__ = __abs__ = __lt__ = __le__ = __gt__ = __ge__ = _not_a_tensor

    def __repr__(self):
        return f"<{self.what} with a tensor bound>"


class TensorEnumerate:
    """`enumerate(tensor)`: a `for` loop scans (index, row) pairs."""

    def __init__(self, tensor, start):
        self.tensor, self.start = tensor, start

    def __iter__(self):
        return iter(enumerate(self.tensor, self.start))


class TensorZip:
    """`zip(...)` over tensors: a `for` loop scans them together, to the shortest length."""

    def __init__(self, tensors):
        self.tensors = tensors

    def __iter__(self):
        return iter(zip(*self.tensors))


def scan_inputs(iterable):
    """(xs, length, build iterate) for a traced tensor, or enumerate/zip over tensors (nested
    in each other as deep as the user wrote them)."""
    if not isinstance(iterable, (TensorEnumerate, TensorZip)):
        if jnp.ndim(iterable) == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iterable, iterable.shape[0], lambda x: x
    xs = _scannable(iterable)
    n = min(leaf.shape[0] for leaf in jax.tree_util.tree_leaves(xs))
    return jax.tree_util.tree_map(lambda a: a if a.shape[0] == n else a[:n], xs), n, tuple


def _scannable(part):
    """A pytree of arrays whose leading axes a scan walks together, for one iterable."""
    if isinstance(part, TensorEnumerate):
        inner = _scannable(part.tensor)
        n = min(leaf.shape[0] for leaf in jax.tree_util.tree_leaves(inner))
        counter = jnp.arange(n) + part.start
        if is_traced(counter) and n and isinstance(part.start, int):  # see _index_bounds
            _index_bounds.note_progression(counter, part.start, 1)
        return (counter, inner)
    if isinstance(part, TensorZip):
        return tuple(_scannable(t) for t in part.tensors)
    # A Python list or tuple of numbers is one sequence, not a pytree of scalars.
    if isinstance(part, (list, tuple)) and all(
            isinstance(v, (int, float, bool, complex, np.number, np.bool_)) for v in part):
        return jnp.asarray(part)
    return jax.tree_util.tree_map(jnp.asarray, part)


def _no_leaves(rng):
    rng._not_a_tensor()


# A pytree that cannot be flattened: JAX flattens the arguments of its jitted functions
# (jnp.sum, jnp.where...), which then raise TensorRange's own error rather than JAX's
# "Triggering __jax_array__() during abstractification is no longer supported".
jax.tree_util.register_pytree_node(TensorRange, _no_leaves, lambda aux, children: None)
