"""The array operators of a Variable: arithmetic, comparisons, conversions and indexing
act on its current value, so `v * 2`, `v[0]` and `float(v)` read it as TF2's do."""

from __future__ import annotations

import operator

import jax.numpy as jnp
import numpy as np


class ArrayOperators:
    """Mixin for Variable: every operator reads `self.value` (the lifted value inside
    xf.function) and returns a plain array; the Variable itself never changes."""

    __slots__ = ()

    def __bool__(self):
        return bool(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __index__(self):
        return operator.index(self.value)

    def __iter__(self):
        return iter(self.value)

    def __getitem__(self, idx):
        return self.value[idx]

    def __neg__(self):
        return -self.value

    def __pos__(self):
        return self.value

    def __abs__(self):
        return abs(self.value)

    def __invert__(self):
        return ~self.value

    def astype(self, dtype):
        return self.value.astype(dtype)

    @property
    def T(self):
        return self.value.T


def _operand(self, other):
    """`other` as an array operand: a Variable's value, or a Python list/tuple converted
    to this Variable's dtype as TF converts it (`v * [3., 4.]`; JAX refuses lists)."""
    if isinstance(other, ArrayOperators):  # another Variable: its value, not the cell
        return other.value
    if not isinstance(other, (list, tuple)):
        return other
    try:
        given = np.asarray(other)
    except TypeError:  # tensors inside the list (tracers): let JAX stack them
        return jnp.asarray(other)
    except ValueError:  # NumPy's refusal of a ragged list
        given = np.empty(0, object)
    if given.dtype == object:
        raise TypeError(f"Variable {self.name!r}: cannot use the ragged or mixed list "
                        f"{other!r} as an operand; expected a rectangular list of numbers")
    # TF rounds a float to a float dtype (0.1 to float32) but refuses to drop a fraction
    # (3.5 to int32), an imaginary part or an integer's high bits; checked before astype,
    # which would warn.
    if given.dtype.kind == "c":
        lossy = not jnp.issubdtype(self.dtype, jnp.complexfloating)
    else:
        lossy = not jnp.issubdtype(self.dtype, jnp.inexact) and not np.array_equal(
            given, given.astype(self.dtype))
    if lossy:
        raise TypeError(f"Variable {self.name!r}: cannot convert {other!r} to the Variable's "
                        f"dtype {self.dtype}, as TF refuses it; cast the Variable first")
    return jnp.asarray(given.astype(self.dtype))


# Operand types whose own reflected operator decides (Keras' symbolic tensors, which refuse
# a Variable with a message instead of freezing its value into a functional graph).
_DEFERRED = set()


def defer_to(cls):
    """Leave `Variable <op> cls-instance` to the instance's reflected operator."""
    _DEFERRED.add(cls)


def _binary(op):
    def forward(self, other):
        if type(other) in _DEFERRED:
            return NotImplemented
        return op(self.value, _operand(self, other))

    def reflected(self, other):
        if type(other) in _DEFERRED:
            return NotImplemented
        return op(_operand(self, other), self.value)

    return forward, reflected


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
              "and", "or", "xor", "lshift", "rshift"):
    _op = getattr(operator, _name + "_" if _name in ("and", "or") else _name)
    _fwd, _ref = _binary(_op)
    setattr(ArrayOperators, f"__{_name}__", _fwd)
    setattr(ArrayOperators, f"__r{_name}__", _ref)
# Elementwise, as TF2's Variables compare (so Variable sets __hash__ to refuse hashing).
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ArrayOperators, f"__{_name}__", _binary(getattr(operator, _name))[0])
