"""Run-time checks of a TensorArray grown by a compiled loop's trip count (see
_tensor_array_loops.py): its rows are fixed before the loop, TF's size is a traced count,
so whether they agree is known only when the program runs (checked as asserts are).

An append (`ta.write(ta.size(), v)`) is not checked where it writes: a check per step of
a 200-step loop made it ~5x slower on XLA:CPU. Past the rows, such a write lands on the
last row and the count passes the rows, which every read of the array (stack, read,
gather, growing it again) checks first: no value it clobbered is ever seen.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _index_bounds, _runtime_checks

_ADVICE = ("create it with size=<number of writes> (a Python int), or append to a Python "
           "list and tf.stack it")


def _past(name, what, told, rows):
    return (f"{name}.{what}: {told} past the {rows} rows of this dynamic_size array. "
            "Written in a compiled loop whose trip count is known when tracing, it grew "
            "before the loop by that trip count only (one write per iteration; to the "
            "counter's bound for a write at the loop counter), since XLA arrays have fixed "
            f"shapes: {_ADVICE}")


def _overflow(name, what, count, rows):
    return _past(name, what, f"{count} elements were written,", rows)


def check_index(indices, rows, what, name):
    """Fail unless every index (of a write or scatter) is in [0, rows); none for a loop
    counter known to stay in them."""
    if isinstance(indices, jax.core.Tracer) and _index_bounds.within(indices, rows):
        return
    indices = jnp.asarray(indices)

    def error(values):
        bad = [int(i) for i in np.ravel(values) if i < 0 or i >= rows]
        index = bad[0] if bad else int(np.ravel(values)[0])
        if index < 0:
            return IndexError(f"{name}.{what}: index {index} is negative")
        return IndexError(_past(name, what, f"index {index} is", rows))

    _runtime_checks.check(jnp.all((indices >= 0) & (indices < rows)), error, indices)


def check_written(indices, count, rows, what, name):
    """Fail unless every index (of a read or gather) is below TF's size `count`, and no
    append went past the rows; a negative Python index fails at once."""
    if not isinstance(indices, jax.core.Tracer) and np.any(np.asarray(indices) < 0):
        raise IndexError(f"{name}.{what}: index {int(np.min(indices))} is negative")
    indices = jnp.asarray(indices)

    def error(values, n):
        if n > rows:
            return IndexError(_overflow(name, what, int(n), rows))
        bad = [int(i) for i in np.ravel(values) if i < 0 or i >= n]
        index = bad[0] if bad else int(np.ravel(values)[0])
        return IndexError(f"{name}.{what}: index {index} is outside an array of size {n}")

    ok = jnp.all((indices >= 0) & (indices < count)) & (count <= rows)
    _runtime_checks.check(ok, error, indices, count)


def check_stacked(count, rows, name):
    """stack() gives every row: fail unless all were written, no more and no fewer."""
    def error(n):
        if n > rows:
            return IndexError(_overflow(name, "stack", int(n), rows))
        return ValueError(
            f"{name}.stack: {int(n)} of its {rows} rows were written. This dynamic_size "
            "array grew by the trip count of the compiled loop that wrote it (XLA arrays "
            "have fixed shapes, so its rows are allocated before the loop), and TF would "
            f"stack only the {int(n)} written: some iteration did not write (a conditional "
            "write?). Create it with size=<rows> and element_shape=, or append to a Python "
            "list and tf.stack it")

    _runtime_checks.check(count == rows, error, count)


def check_fits(count, rows, what, name):
    """Before the rows grow again: fail if an append went past them."""
    _runtime_checks.check(count <= rows, lambda n: IndexError(
        _overflow(name, what, int(n), rows)), count)
