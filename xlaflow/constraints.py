"""Weight constraints (Keras 2's tf.keras.constraints): projections the optimizer applies to
a weight right after each update, e.g. a bound on the norm of each unit's incoming weights.

Each constraint is traceable jnp code, since it runs inside the compiled training step.
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp
import numpy as np

from xlaflow._keras_lookup import Lookup

# Keras' backend.epsilon(): added to the norms in the denominators, as Keras does.
EPSILON = 1e-7


def _number(owner, name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(  # noqa: TRY004 - as _axis: ValueError for any bad argument
            f"{owner}: {name} must be a number; received {value!r}")
    return value


def _axis(owner, axis):
    """An int or a list/tuple of ints (Keras keeps the value as given, for get_config)."""
    axes = [axis] if isinstance(axis, numbers.Integral) else axis
    if not isinstance(axes, (list, tuple)) or not axes or not all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
        raise ValueError(f"{owner}: axis must be an int or a list of ints; received "
                         f"{axis!r}")
    return list(axis) if isinstance(axis, tuple) else axis


def _norms(owner, w, axis):
    """The L2 norm of `w` over `axis`, kept as size-1 axes so it broadcasts against `w`."""
    axes = [axis] if isinstance(axis, numbers.Integral) else axis
    if any(not -w.ndim <= a < w.ndim for a in axes):
        raise ValueError(f"{owner}: axis={axis!r} is out of range for a weight of shape "
                         f"{tuple(w.shape)}")
    return jnp.sqrt(jnp.sum(jnp.square(w), axis=tuple(axes), keepdims=True))


class Constraint:
    """A callable `weight value -> projected value`; subclasses define __call__ and
    get_config. The base class leaves the weight unchanged."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Scales down each slice along `axis` whose L2 norm exceeds `max_value`
    (Keras: `w * clip(norms, 0, max_value) / (epsilon + norms)`)."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = _number(type(self).__name__, "max_value", max_value)
        self.axis = _axis(type(self).__name__, axis)

    def __call__(self, w):
        w = jnp.asarray(w)
        norms = _norms(type(self).__name__, w, self.axis)
        desired = jnp.clip(norms, 0, self.max_value)
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each slice's L2 norm into [min_value, max_value], by the fraction `rate` of
    the way (Keras: desired = rate * clip(norms) + (1 - rate) * norms)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        owner = type(self).__name__
        self.min_value = _number(owner, "min_value", min_value)
        self.max_value = _number(owner, "max_value", max_value)
        if self.min_value > self.max_value:
            raise ValueError(f"{owner}: min_value must be <= max_value; received "
                             f"min_value={min_value!r}, max_value={max_value!r}")
        self.rate = _number(owner, "rate", rate)
        self.axis = _axis(owner, axis)

    def __call__(self, w):
        w = jnp.asarray(w)
        norms = _norms(type(self).__name__, w, self.axis)
        desired = (self.rate * jnp.clip(norms, self.min_value, self.max_value)
                   + (1 - self.rate) * norms)
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value,
                "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """Zeroes the negative entries (Keras: `w * (w >= 0)`)."""

    def __call__(self, w):
        w = jnp.asarray(w)
        return w * (w >= 0).astype(w.dtype)


class UnitNorm(Constraint):
    """Divides each slice along `axis` by its L2 norm (Keras: `w / (epsilon + norms)`)."""

    def __init__(self, axis=0):
        self.axis = _axis(type(self).__name__, axis)

    def __call__(self, w):
        w = jnp.asarray(w)
        return w / (EPSILON + _norms(type(self).__name__, w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


def _radial_sources(size):
    """For a square (size, size) kernel, the diagonal index whose value each position takes
    under Keras 2's RadialConstraint, as its code computes it: the centre (1x1, or 2x2 for
    an even size) takes kernel[s-1, s-1] with s = size // 2, and the square ring r around it
    takes kernel[s+r-1, s+r-1] (odd size) or kernel[s+r, s+r] (even size). (Keras' docstring
    example draws the even case the other way round; its code does this.)"""
    s = size // 2
    index = np.arange(size)
    if size % 2:
        ring = np.abs(index - s)
        offset = -1
    else:  # the inner 2x2 is indices s-1 and s
        ring = np.where(index <= s - 1, s - 1 - index, index - s)
        offset = 0
    rings = np.maximum(ring[:, None], ring[None, :])
    return np.where(rings == 0, s - 1, s + rings + offset)


class RadialConstraint(Constraint):
    """Makes a Conv2D kernel (rows, cols, in, out), rows == cols, constant on each square
    ring around its centre, every (in, out) filter on its own (Keras 2's rule)."""

    def __call__(self, w):
        w = jnp.asarray(w)
        if w.ndim != 4 or w.shape[0] != w.shape[1]:
            raise ValueError(f"RadialConstraint: the weight must be a square Conv2D kernel "
                             f"(rows, cols, in, out) with rows == cols; received shape "
                             f"{tuple(w.shape)}")
        source = _radial_sources(w.shape[0])
        return w[source, source]  # static gather: each (row, col) reads its diagonal entry


# Keras' aliases, then its legacy ones.
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
radial_constraint = RadialConstraint
maxnorm, nonneg, unitnorm = max_norm, non_neg, unit_norm

_BUILTIN = (MaxNorm, MinMaxNorm, NonNeg, UnitNorm, RadialConstraint)
_BY_NAME = {**{cls.__name__: cls for cls in _BUILTIN},
            "max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
            "unit_norm": UnitNorm, "radial_constraint": RadialConstraint,
            "maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm}


_LOOKUP = Lookup("constraint", Constraint, _BUILTIN, _BY_NAME)


def get(identifier):
    """A constraint from None, a name ('max_norm', 'non_neg', 'unit_norm', 'min_max_norm',
    'radial_constraint', a class name or a legacy alias), a `{class_name, config}` dict, a
    Constraint or any callable `weight value -> value`."""
    return _LOOKUP.get(identifier)


def serialize(constraint):
    """`{"class_name", "config"}` for a built-in constraint (None stays None). A user's
    Constraint goes through xf.keras.saving (register it to save the model)."""
    return _LOOKUP.serialize(constraint)


def deserialize(config, custom_objects=None):
    """The constraint `serialize` described (a name or dict of a built-in, or a registered
    or `custom_objects` class)."""
    return _LOOKUP.deserialize(config, custom_objects)
