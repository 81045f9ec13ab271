"""Python builtins that behave as on numbers when given traced tensors.

`converted_call` routes calls of these builtins here; with Python arguments each one is the
builtin itself.
"""

from __future__ import annotations

import builtins
import functools

import jax.numpy as jnp

from xlaflow.autograph.operators import lists
from xlaflow.autograph.operators.dispatch import is_traced
from xlaflow.autograph.operators.loops import TensorEnumerate, TensorRange, TensorZip


def _any_traced(values):
    return any(is_traced(v) for v in values)


def range_(*args):
    """range(); a traced bound gives a TensorRange that a `for` loop runs as a lax loop."""
    if not _any_traced(args):
        return builtins.range(*args)
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
    if not is_traced(step) and step == 0:
        raise ValueError("range() arg 3 must not be zero")
    return TensorRange(start, stop, step)


def enumerate_(iterable, start=0):
    if is_traced(iterable) or isinstance(iterable, (TensorEnumerate, TensorZip)):
        return TensorEnumerate(iterable, start)
    return builtins.enumerate(iterable, start)


def zip_(*iterables, strict=False):
    if iterables and (_any_traced(iterables) or any(
            isinstance(i, (TensorEnumerate, TensorZip)) for i in iterables)):
        return TensorZip(iterables)
    return builtins.zip(*iterables, strict=strict)


def int_(value=0, *args):
    if is_traced(value) and not args:
        return value.astype(jnp.int32)  # truncates toward zero, as int() does
    return builtins.int(value, *args)


def float_(value=0.0):
    if is_traced(value):
        return value.astype(jnp.float32)
    return builtins.float(value)


def bool_(value=False):
    if is_traced(value):
        return value if value.dtype == jnp.bool_ else value != 0
    return builtins.bool(value)


def _extreme(python_fn, pairwise, reduce):
    def apply(*args, **kwargs):
        one_sequence = len(args) == 1 and isinstance(args[0], (list, tuple))
        values = list(args[0]) if one_sequence else args
        if kwargs or not _any_traced(values):
            return python_fn(*args, **kwargs)
        if len(args) == 1 and not one_sequence:  # max(tensor): over its leading axis
            if jnp.ndim(args[0]) != 1:
                raise TypeError(f"{python_fn.__name__}() of a tensor of shape "
                                f"{jnp.shape(args[0])} would compare its rows; use "
                                f"jnp.{reduce.__name__}(x, axis=...) instead")
            return reduce(args[0])
        return functools.reduce(pairwise, values)

    apply.__name__ = python_fn.__name__
    return apply


max_ = _extreme(builtins.max, jnp.maximum, jnp.max)
min_ = _extreme(builtins.min, jnp.minimum, jnp.min)


def sum_(iterable, start=0):
    if is_traced(iterable):
        return jnp.sum(iterable, axis=0) + start
    return builtins.sum(iterable, start)


def print_(*args, **kwargs):
    """print(); with traced arguments it prints when the program runs (as xf.print)."""
    if not _any_traced(args):
        return builtins.print(*args, **kwargs)
    from xlaflow.ops import print as run_time_print
    return run_time_print(*args, output_stream=kwargs.get("file"),
                          sep=kwargs.get("sep", " "), end=kwargs.get("end", "\n"))


OVERRIDES = {
    builtins.range: range_, builtins.enumerate: enumerate_, builtins.zip: zip_,
    builtins.int: int_, builtins.float: float_, builtins.bool: bool_, builtins.max: max_,
    builtins.min: min_, builtins.sum: sum_, builtins.print: print_,
    **lists.OVERRIDES,
}
