"""tf.TensorArray: TF's write-then-stack list of same-shape tensors, as a value (a pytree
holding one preallocated array) so it can be the state of a compiled loop.

Writes return a new TensorArray, as in TF (`ta = ta.write(i, x)`). XLA arrays have fixed
shapes, so a write at a traced index (inside a tensor loop) needs the rows allocated before
the loop; the element shape is `element_shape`, or, as TF infers it, the shape of the first
write: a tensor loop carrying an array not yet written learns it from one abstract pass of
its body (loop_state.py) and allocates the array before the loop. A `dynamic_size=True`
array written in a compiled loop whose trip count is known when tracing (a `for` over a
tensor, or over a range with Python bounds, without break) gets the rows its writes need
before the loop (one per iteration for an append, the counter's bound for a write at the
counter) and carries TF's size (the elements written) as a traced count; stack() checks
when the program runs that every row was written (_tensor_array_loops.py, _grown_rows.py).
Eager code and Python loops grow such an array freely; in other compiled loops (while, a
range with a traced bound) a traced index outside the allocated rows fails when it runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _grown_rows, _index_bounds, _runtime_checks
from xlaflow.errors import InvalidArgumentError
from xlaflow.tensors import convert_preferred, int32


def _traced(x):
    return isinstance(x, jax.core.Tracer)


def _check_indices(indices, size, what, dynamic):
    """Fail unless every index is in [0, size), as TF does: JAX would clamp a read and drop
    a write. A concrete index raises IndexError now; a traced one (inside a compiled loop)
    raises it when the program runs, through the run-time checks converted asserts use."""
    if _traced(indices):
        if _index_bounds.within(indices, size):  # a loop counter that stays in range
            return
        indices = jnp.asarray(indices)
        ok = jnp.all((indices >= 0) & (indices < size))
        grows = dynamic and what in ("write", "scatter")
        _runtime_checks.check(ok, lambda values: IndexError(
            _out_of_range(what, values, size, grows)), indices)
        return
    for index in np.ravel(np.asarray(indices)):
        if index < 0 or index >= size:
            raise IndexError(_out_of_range(what, index, size, False))


def _out_of_range(what, indices, size, cannot_grow):
    bad = [int(i) for i in np.ravel(indices) if i < 0 or i >= size]
    index = bad[0] if bad else int(np.ravel(indices)[0])
    text = f"TensorArray.{what}: index {index} is outside an array of size {size}"
    if cannot_grow:
        text += (" (a dynamic_size array cannot grow at an index computed in the compiled "
                 "program, since XLA arrays have fixed shapes: create it with "
                 "size=<number of writes>)")
    return text


def _converted(value, dtype, what):
    """`value` as an array of `dtype`; a value of another dtype raises InvalidArgumentError
    as TF (which never casts a tensor silently; Python numbers take `dtype` if they fit)."""
    array, have = convert_preferred(value, dtype)
    if array is not None:
        return array
    cast = f"; cast the value first: xf.cast(value, xf.{dtype.name})" if have != "str" else ""
    raise InvalidArgumentError(None, None, (
        f"TensorArray dtype is {dtype.name} but Op is trying to write dtype {have} "
        f"(TensorArray.{what}){cast}"))


class _Label:
    """An array's name for errors, kept in its pytree structure but equal to any other:
    two arrays differing only in name must meet in a lax.cond or loop carry."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def __eq__(self, other):
        return isinstance(other, _Label)

    def __hash__(self):
        return 0

    def __repr__(self):
        return repr(self.text)


@jax.tree_util.register_pytree_node_class
class TensorArray:
    """A list of `size` tensors of one dtype and shape; `stack()` gives them as one."""

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None,
                 tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                 element_shape=None, colocate_with_first_write_call=True, name=None):
        self._dtype = jnp.dtype(dtype)
        if size is None:
            size = 0
        if _traced(size):
            raise ValueError(
                "TensorArray: `size` must be known when the function is traced, since XLA "
                f"arrays have fixed sizes; received a tensor computed in the function "
                f"({size.dtype.name}{list(size.shape)}). Pass a Python int: a static "
                "dimension (x.shape[0]), or a Python argument of the xf.function (which "
                "traces once per value)")
        self._size = int(size)
        if self._size < 0:
            raise ValueError(f"TensorArray: `size` must be >= 0, received size={size!r}")
        self._dynamic = bool(dynamic_size)
        shape = None
        if element_shape is not None:
            shape = tuple(getattr(element_shape, "as_list", lambda: element_shape)())
            if any(d is None for d in shape):
                shape = None  # partially known: taken from the first write instead
        self._element_shape = shape
        # Named in errors: TF's tensor_array_name/name, else the variable a loop carries
        # it in (loop_state.py labels it)
        self._label = _Label(tensor_array_name or name)
        self._buffer = None if shape is None else jnp.zeros((self._size, *shape), self._dtype)
        # TF's size of an array grown by a loop's trip count (grown_by): the number of
        # elements written, a traced int32; None otherwise (the size is then `_size`)
        self._count = None
        self._probe = None  # a _Growth record in the abstract pass deciding growth

    # -- pytree: the buffer and a grown array's count are the leaves -------------------------
    def tree_flatten(self):
        # (a count of None adds no leaf: an array not grown is the one leaf it always was)
        return (self._buffer, self._count), (self._dtype, self._size, self._dynamic,
                                             self._element_shape, self._label, self._probe)

    @classmethod
    def tree_unflatten(cls, aux, children):
        ta = object.__new__(cls)
        ta._dtype, ta._size, ta._dynamic, ta._element_shape, ta._label, ta._probe = aux
        ta._buffer, ta._count = children
        return ta

    def _with(self, buffer, count=None):
        """This array holding `buffer`; a grown one's count is `count`, or kept."""
        ta = object.__new__(type(self))
        ta._dtype, ta._dynamic = self._dtype, self._dynamic
        ta._size, ta._element_shape = buffer.shape[0], tuple(buffer.shape[1:])
        ta._label, ta._probe = self._label, self._probe
        ta._buffer = buffer
        ta._count = self._count if count is None else count
        return ta

    def _copy(self):
        return self.tree_unflatten(self.tree_flatten()[1], self.tree_flatten()[0])

    # -- for tensor loops (loop_state.py) -------------------------------------------------------
    @property
    def allocated(self):
        """Whether the array holds its buffer (its element shape is known)."""
        return self._buffer is not None

    def labelled(self, label):
        """This array, named `label` in errors unless it has a name already."""
        if self._label.text is not None:
            return self
        ta = self._copy()
        ta._label = _Label(label)
        return ta

    def allocate(self, element_shape):
        """This unwritten array with its `size` rows of zeros of `element_shape`."""
        buffer = jnp.zeros((self._size, *element_shape), self._dtype)
        return self._with(buffer)

    @property
    def grown(self):
        """Whether the array was grown by a loop's trip count (it carries TF's size)."""
        return self._count is not None

    def grown_by(self, trips, record=None):
        """This array with `trips` more rows of zeros (or, not allocated yet, `trips` more in
        its size), carrying TF's size as a traced count from now on; `record` (a _Growth,
        in the abstract pass deciding it) notes whether the loop writes past its rows."""
        ta = self._copy()
        if self.grown and ta._buffer is not None:  # grown again: by a later loop
            _grown_rows.check_fits(self._count, self._size, "write", self._name())
        if ta._buffer is not None:
            ta._buffer = jnp.concatenate(
                [ta._buffer, jnp.zeros((trips, *ta._buffer.shape[1:]), self._dtype)])
        ta._size = self._size + trips
        if ta._count is None:
            ta._count = jnp.asarray(self._size, int32)
        if record is not None:
            ta._probe = record
        return ta

    def _note_rows(self, indices):
        """In the abstract pass deciding whether a loop grows this array: note the rows a
        write needs (a loop counter's bound; a Python index + 1; for any other traced
        index one more row per iteration, as `ta.write(ta.size(), v)` appends)."""
        probe = self._probe
        if probe is None:
            return
        if _traced(indices):
            known = _index_bounds.bounds(indices)
            need = known[1] if known and known[0] >= 0 else probe.base + probe.trips
        elif np.size(indices):
            need = int(np.max(np.asarray(indices))) + 1
        else:
            return
        probe.rows = max(probe.rows, need)

    def _counted(self, indices):
        """A grown array's count after writing `indices` (TF's size: max index + 1)."""
        if self._count is None or not np.size(indices):
            return None
        if indices is self._count:  # an append (write(size(), v)): max(n, n + 1) is n + 1,
            return self._count + 1  # which XLA updates in place (the max made it 6x slower)
        last = jnp.max(jnp.asarray(indices)).astype(int32)
        return jnp.maximum(self._count, last + 1)

    def _name(self):
        return f"TensorArray '{self._label.text}'" if self._label.text else "TensorArray"

    # -- TF's API ------------------------------------------------------------------------------
    @property
    def dtype(self):
        return self._dtype

    @property
    def element_shape(self):
        return self._element_shape

    @property
    def dynamic_size(self):
        return self._dynamic

    def size(self, name=None):
        if self._count is not None:  # grown by a loop: the elements written so far
            return self._count
        return jnp.asarray(self._size, int32)

    def write(self, index, value, name=None):
        """A TensorArray with `value` at `index`; `value` must have the array's dtype (a
        Python number takes it, as in TF)."""
        value = _converted(value, self._dtype, "write")
        if self._element_shape is not None and value.shape != self._element_shape:
            at = "an index computed in the program" if _traced(index) else f"index {index}"
            raise ValueError(
                f"{self._name()}.write: could not write to {at} because the value shape is "
                f"{list(value.shape)}, which is incompatible with the array's element shape "
                f"{list(self._element_shape)} (given as element_shape, or inferred from its "
                "first write, as in TF): every element of a TensorArray has one shape")
        buffer = self._buffer
        self._note_rows(index)
        if _traced(index):
            if self._size == 0 and not self.grown:
                raise ValueError(
                    f"{self._name()}.write at an index computed in the compiled program (inside "
                    "a tensor loop) needs the array allocated before the loop, since XLA "
                    "arrays have fixed shapes: create it with size=<number of writes> (a "
                    "Python int; its element shape is inferred from the first write), or "
                    "append to a Python list and tf.stack it (AutoGraph stacks what a "
                    "tensor loop appends)")
            if buffer is None:  # straight-line code may allocate now; a loop carry may not
                buffer = jnp.zeros((self._size, *value.shape), self._dtype)
            if self.grown:
                if index is not self._count:  # an append is checked where it is read
                    _grown_rows.check_index(index, buffer.shape[0], "write", self._name())
                if not buffer.shape[0]:  # grown by a loop of 0 trips: never runs
                    return self._with(buffer)
            else:
                _check_indices(index, buffer.shape[0], "write", self._dynamic)
            # In range once checked (an index outside fails the call), so a dynamic update
            # slice does it: ~9% faster per step than .at[].set's scatter on XLA:CPU
            return self._with(jax.lax.dynamic_update_index_in_dim(buffer, value, index, 0),
                              self._counted(index))
        index = int(index)
        size = self._size if buffer is None else buffer.shape[0]
        if index < 0 or (index >= size and not self._dynamic):
            raise IndexError(f"TensorArray.write: index {index} is outside an array of size "
                             f"{size} (dynamic_size=False)")
        if buffer is None:
            buffer = jnp.zeros((size, *value.shape), self._dtype)
        if index >= buffer.shape[0]:
            if self.grown:  # more rows: an append past the old ones must not hide
                _grown_rows.check_fits(self._count, buffer.shape[0], "write", self._name())
            extra = jnp.zeros((index + 1 - buffer.shape[0], *value.shape), self._dtype)
            buffer = jnp.concatenate([buffer, extra])
        return self._with(buffer.at[index].set(value), self._counted(index))

    def read(self, index, name=None):
        if self._buffer is None:
            raise ValueError("TensorArray.read: nothing was written to this array yet")
        if self.grown:  # its size, the elements written, is known when the program runs
            _grown_rows.check_written(index, self._count, self._buffer.shape[0], "read",
                                      self._name())
            if not _traced(index) and int(index) >= self._buffer.shape[0]:
                raise IndexError(_out_of_range("read", index, self._buffer.shape[0], False))
        else:
            _check_indices(index, self._buffer.shape[0], "read", self._dynamic)
        if _traced(index):  # checked in range: a dynamic slice, not a gather
            return jax.lax.dynamic_index_in_dim(self._buffer, index, 0, keepdims=False)
        return self._buffer[index]

    def stack(self, name=None):
        """All elements as one tensor of shape (size, *element_shape)."""
        if self._buffer is None:
            if self._size == 0 and self._element_shape is None:
                raise ValueError("TensorArray.stack: the array is empty and its element "
                                 "shape is unknown; pass element_shape= to stack nothing")
            raise ValueError("TensorArray.stack: nothing was written to this array")
        if self.grown:  # XLA's result has every grown row: TF's has the written ones
            _grown_rows.check_stacked(self._count, self._buffer.shape[0], self._name())
        return self._buffer

    def gather(self, indices, name=None):
        if self.grown and self._buffer is not None:  # any element written so far
            indices = jnp.asarray(indices)
            _grown_rows.check_written(indices, self._count, self._buffer.shape[0], "gather",
                                      self._name())
            return jnp.take(self._buffer, indices, axis=0)
        stacked, indices = self.stack(), jnp.asarray(indices)
        _check_indices(indices, stacked.shape[0], "gather", self._dynamic)
        return jnp.take(stacked, indices, axis=0)

    def concat(self, name=None):
        """The elements joined along their first axis."""
        stacked = self.stack()
        return stacked.reshape((-1, *stacked.shape[2:]))

    def unstack(self, value, name=None):
        """A TensorArray holding the rows of `value`."""
        value = _converted(value, self._dtype, "unstack")
        if self.grown:  # TF's unstack writes rows 0..n-1: the size is counted as by writes
            return self.scatter(np.arange(value.shape[0]), value)
        if self._size and value.shape[0] != self._size and not self._dynamic:
            raise ValueError(f"TensorArray.unstack: {value.shape[0]} rows into an array of "
                             f"size {self._size} (dynamic_size=False)")
        return self._with(value)

    def scatter(self, indices, value, name=None):
        """A TensorArray with value[k] written at indices[k]."""
        value, indices = _converted(value, self._dtype, "scatter"), jnp.asarray(indices)
        self._note_rows(indices)
        buffer = self._buffer
        if buffer is None:
            buffer = jnp.zeros((self._size, *value.shape[1:]), self._dtype)
        if self._dynamic and not _traced(indices) and indices.size:
            extra = int(np.max(np.asarray(indices))) + 1 - buffer.shape[0]
            if extra > 0:  # a dynamic array grows on scatter as on write
                if self.grown:
                    _grown_rows.check_fits(self._count, buffer.shape[0], "scatter",
                                           self._name())
                buffer = jnp.concatenate(
                    [buffer, jnp.zeros((extra, *buffer.shape[1:]), self._dtype)])
        if self.grown:
            _grown_rows.check_index(indices, buffer.shape[0], "scatter", self._name())
        else:
            _check_indices(indices, buffer.shape[0], "scatter", self._dynamic)
        return self._with(buffer.at[indices].set(value), self._counted(indices))

    def identity(self):
        return self

    def mark_used(self):
        return None

    def close(self, name=None):
        return None

    def __repr__(self):
        size = f"rows={self._size} (grown by a loop)" if self.grown else f"size={self._size}"
        return (f"<xf.TensorArray dtype={self._dtype.name} {size} "
                f"element_shape={self._element_shape}>")
