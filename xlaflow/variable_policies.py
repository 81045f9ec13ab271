"""The Variable constructor's TF options: aggregation and synchronization (TF's enums), the
constraint an optimizer applies after each update, and a declared shape with None dims.

Under xlaflow a Variable is one global array that one SPMD program reads and writes, so
there are no per-replica copies to synchronize: both options are validated and stored.
Aggregation matters only where replicas write different values, inside `strategy.run`,
which combines them as TF does (distribute/replica_run.py); elsewhere every replica
assigns the same value and it changes nothing, as in TF.
"""

from __future__ import annotations

import enum
import numbers


class VariableAggregation(enum.Enum):
    """How TF combines replicas' differing assignments (inside strategy.run)."""

    NONE = 0
    SUM = 1
    MEAN = 2
    ONLY_FIRST_REPLICA = 3


class VariableSynchronization(enum.Enum):
    """When TF synchronizes replicas' copies (stored; ON_READ implies non-trainable)."""

    AUTO = 0
    NONE = 1
    ON_WRITE = 2
    ON_READ = 3


def _member(enum_type, value, argument):
    if value is None:  # TF's validation reads None as the default (AUTO, NONE)
        return next(iter(enum_type))
    try:
        return enum_type(value)
    except ValueError:
        raise ValueError(f"xf.Variable: {argument} must be an xf.{enum_type.__name__} member "
                         f"({', '.join(m.name for m in enum_type)}); received "
                         f"{value!r}") from None


def options(trainable, constraint, synchronization, aggregation):
    """(trainable, constraint, synchronization, aggregation) checked as TF checks them: an
    ON_READ Variable cannot be trainable, and is not unless told (TF's default)."""
    synchronization = _member(VariableSynchronization, synchronization, "synchronization")
    aggregation = _member(VariableAggregation, aggregation, "aggregation")
    if constraint is not None and not callable(constraint):
        raise ValueError(f"xf.Variable: constraint must be a callable (value -> projected "
                         f"value) or None; received {type(constraint).__name__} "
                         f"{constraint!r}")
    if synchronization is VariableSynchronization.ON_READ:
        if trainable:
            raise ValueError(
                "xf.Variable: synchronization=VariableSynchronization.ON_READ is for "
                "non-trainable Variables only; received trainable=True (pass "
                "trainable=False, or leave it out)")
        trainable = False
    elif trainable is None:
        trainable = True
    return bool(trainable), constraint, synchronization, aggregation


def declared_shape(shape, value_shape):
    """`shape` as a tuple of ints and None (None: any size in assignments), or the initial
    value's shape when None; it must describe the initial value."""
    if shape is None:
        return tuple(value_shape)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"xf.Variable: shape must be a sequence of ints and None (None: any "
                        f"size); received {type(shape).__name__} {shape!r}. An unknown "
                        "rank is not supported: give the rank, with None for each size")
    dims = tuple(shape)
    for d in dims:
        if not (d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool)
                              and d >= 0)):
            raise TypeError(f"xf.Variable: shape must hold non-negative ints or None; "
                            f"received {shape!r}")
    dims = tuple(None if d is None else int(d) for d in dims)
    if not compatible(dims, value_shape):
        raise ValueError(f"xf.Variable: the initial value's shape {tuple(value_shape)} does "
                         f"not match shape={dims}")
    return dims


def compatible(declared, shape):
    """Whether `shape` fits `declared` (same rank; None matches any size)."""
    return len(declared) == len(shape) and all(
        d is None or d == s for d, s in zip(declared, shape))
