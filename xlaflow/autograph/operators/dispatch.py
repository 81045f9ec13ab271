"""Whether a value decides control flow at trace time (Python) or at run time (XLA)."""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp


def is_traced(value):
    """A traced array: its value is known only when the compiled program runs."""
    return isinstance(value, jax.core.Tracer)


def caller(depth=2):
    """'file:line' of the converted statement calling an operator (`depth` frames up from
    the function that asks)."""
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def user_line():
    """'file:line' of the innermost frame outside xlaflow and JAX (the user's converted
    statement, or the user's call of an xlaflow function), or '<unknown>'."""
    from xlaflow._tracebacks import is_library_frame
    frame = sys._getframe(1)
    while frame is not None and is_library_frame(frame.f_code.co_filename):
        frame = frame.f_back
    return "<unknown>" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def scalar_predicate(value, what, where):
    """A traced condition as the scalar bool that lax.cond/while_loop needs. A condition
    of one element (`argmax(...) == end`, shape (1, 1)) is squeezed, as TF's cond_v2 and
    while_v2 squeeze theirs; a larger one is refused."""
    if jnp.ndim(value) and jnp.size(value) == 1:  # a scalar stays as it is: no reshape
        value = jnp.reshape(value, ())
    if jnp.ndim(value) != 0:
        raise ValueError(
            f"{where}: the condition of this {what} is a tensor of shape {jnp.shape(value)}; "
            "a tensor condition must be a scalar. Reduce it (jnp.any(c) / jnp.all(c)), or use "
            "jnp.where(c, a, b) to select elementwise.")
    if jnp.result_type(value) != jnp.bool_:
        value = value != 0
    return value
