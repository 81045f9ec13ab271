"""Python operators on symbolic tensors (`x + y`, `2 * x`, `-x`, `x @ w`, `x[:, 0]`).

Keras 2 records them as TFOpLambda layers (SlicingOpLambda for indexing), and summary()
and plot_model show them so; here each is a node of an `Operator` layer that holds the
operator's name and its constant operand or index, in JSON form, so a functional model that
uses them saves and loads like any other. `Lambda` (lambda_layer.py) wraps other
jax.numpy code.
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp
import numpy as np

from xlaflow.layers import symbolic
from xlaflow.layers.base import Layer

_BINARY = {"add": jnp.add, "subtract": jnp.subtract, "multiply": jnp.multiply,
           "truediv": jnp.true_divide, "matmul": jnp.matmul, "floordiv": jnp.floor_divide,
           "floormod": jnp.remainder, "pow": jnp.power, "less": jnp.less,
           "less_equal": jnp.less_equal, "greater": jnp.greater,
           "greater_equal": jnp.greater_equal}
_UNARY = {"negative": jnp.negative, "abs": jnp.abs}
_GETITEM = "getitem"
_SYMBOLS = {"add": "+", "subtract": "-", "multiply": "*", "truediv": "/", "matmul": "@",
            "floordiv": "//", "floormod": "%", "pow": "**", "less": "<", "less_equal": "<=",
            "greater": ">", "greater_equal": ">="}
# The layer names Keras 2 gives these TFOpLambda layers: the TF op each operator calls
_KERAS_NAMES = {"add": "__operators__.add", "matmul": "linalg.matmul",
                "getitem": "__operators__.getitem", "floormod": "math.floormod"}


class Operator(Layer):
    """`op` applied to the input: a unary operator, a binary one with a constant operand
    (`constant`, on the right or, with `reverse`, the left), a binary one of two inputs
    (`[a, b]`, no constant), or indexing with `key`.

    Args:
      op: a binary operator ('add', 'subtract', 'multiply', 'truediv', 'floordiv',
        'floormod', 'pow', 'matmul', 'less', 'less_equal', 'greater', 'greater_equal'), a
        unary one ('negative', 'abs') or 'getitem'.
      constant: a number, or {'array': nested lists, 'dtype': name}.
      reverse: the constant is the left operand (`2 - x`).
      key: the index as JSON (see `encode_key`).
    """

    def __init__(self, op, constant=None, reverse=False, key=None, **kwargs):
        super().__init__(**kwargs)
        if op not in (*_BINARY, *_UNARY, _GETITEM):
            raise ValueError(f"Operator: op must be one of {sorted((*_BINARY, *_UNARY))} or "
                             f"'getitem'; received {op!r}")
        if op == _GETITEM and key is None:
            raise ValueError("Operator('getitem') needs key=")
        self.op, self.constant, self.reverse = op, constant, bool(reverse)
        self.key = key
        self._value = None if constant is None else _decode_constant(constant)
        self._index = None if key is None else decode_key(key)

    def __call__(self, inputs, *args, training=None, **kwargs):
        if symbolic.has_symbolic(inputs):
            return super().__call__(inputs, *args, training=training, **kwargs)
        # Straight to call: an operator casts nothing (Keras' TFOpLambda does not autocast),
        # so under a mixed policy `x * 2` keeps a float16 x in float16.
        self.built = True
        return self.call(inputs, *args, **kwargs)

    def call(self, inputs):
        if self.op in _UNARY:
            return _UNARY[self.op](inputs)
        if self.op == _GETITEM:
            return inputs[self._index]
        if self._value is None:
            left, right = inputs
        else:
            left, right = (self._value, inputs) if self.reverse else (inputs, self._value)
        return _BINARY[self.op](left, right)

    @property
    def _keras2_class_name(self):
        """Keras 2's class for this layer, which summary() and plot_model show: indexing
        is a SlicingOpLambda, any other operator a TFOpLambda."""
        return "SlicingOpLambda" if self.op == _GETITEM else "TFOpLambda"

    def get_config(self):
        return {**super().get_config(), "op": self.op, "constant": self.constant,
                "reverse": self.reverse, "key": self.key}


# -- the operators SymbolicTensor defines ----------------------------------------------------
def binary(op, x, other, reverse=False, name=None):
    """`x <op> other` (or `other <op> x` with `reverse`) as a graph node (its layer `name`,
    or Keras 2's tf.math.<op>); NotImplemented for operands that are neither tensors,
    numbers nor arrays, so Python raises its TypeError."""
    from xlaflow.layers.symbolic import is_symbolic
    if is_symbolic(other):
        if other.ndim != x.ndim:
            raise ValueError(f"{_SYMBOLS[op]} of symbolic tensors of shapes {x.shape} and "
                             f"{other.shape}: both must have the same rank, so that their "
                             "batch axes line up")
        if op == "matmul" and x.ndim < 3:
            raise ValueError(f"x @ y of symbolic tensors of shapes {x.shape} and {other.shape}"
                             ": both need rank 3 or more (a batch of matrices)")
        pair = [other, x] if reverse else [x, other]
        return Operator(op, name=name or _name(op))(pair)
    from xlaflow.variables import Variable
    if isinstance(other, Variable):  # as a constant it would be frozen at today's value
        raise TypeError(f"{_SYMBOLS[op]} of a symbolic tensor and the Variable "
                        f"{other.name!r}: a functional model would neither train nor save "
                        "it (its value would be frozen into the graph). Make it a weight of "
                        "a Layer subclass (add_weight) and compute there")
    constant = _encode_constant(other)
    if constant is None:
        return NotImplemented
    _check_constant(op, x, np.shape(other), reverse)
    return Operator(op, constant=constant, reverse=reverse, name=name or _name(op))(x)


def unary(op, x):
    return Operator(op, name=_name(op))(x)


def getitem(x, key, name=None):
    encoded = encode_key(key)
    if not _keeps_batch(decode_key(encoded), x.ndim):
        raise IndexError(f"indexing a symbolic tensor of shape {x.shape} with {key!r} would "
                         "select along the batch axis; keep it whole: x[:, ...] or x[..., i]")
    return Operator(_GETITEM, key=encoded, name=name or _name(_GETITEM))(x)


def _name(op):
    from xlaflow.layers.base import unique_name
    return unique_name("tf." + _KERAS_NAMES.get(op, f"math.{op}"))


def _check_constant(op, x, shape, reverse):
    """A constant must leave the batch axis alone: it broadcasts over the example axes."""
    if op == "matmul":
        ok = len(shape) in (1, 2) and (x.ndim >= 3 if reverse else x.ndim >= 2)
        if not ok:
            raise ValueError(
                f"{'w @ x' if reverse else 'x @ w'} with a symbolic x of shape {x.shape} and a "
                f"constant w of shape {shape}: w must be a vector or matrix, and x must have "
                f"rank {3 if reverse else 2} or more, so the batch axis stays first")
        return
    # a scalar symbolic tensor (tf.reduce_sum(x) of a whole batch) has no batch axis left
    if len(shape) > x.ndim or (len(shape) == x.ndim and x.ndim and shape[0] != 1):
        raise ValueError(f"{_SYMBOLS[op]} of a symbolic tensor of shape {x.shape} and a "
                         f"constant of shape {shape}: the constant must broadcast over the "
                         "examples (fewer axes, or a leading axis of 1), not the batch")


def _encode_constant(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (np.ndarray, np.generic)) or type(value).__module__.startswith(
            ("jax", "jaxlib")):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            return None
        return {"array": array.tolist(), "dtype": array.dtype.name}
    return None


def _decode_constant(constant):
    if isinstance(constant, dict):
        return np.asarray(constant["array"], dtype=constant["dtype"])
    return constant


# -- indices as JSON: int, None, "...", and {"slice": [start, stop, step]} -------------------
def encode_key(key):
    items = key if isinstance(key, tuple) else (key,)
    return [_encode_item(item, key) for item in items]


def _encode_item(item, key):
    if item is Ellipsis:
        return "..."
    if item is None:
        return None
    if isinstance(item, slice):
        bounds = [item.start, item.stop, item.step]
        if not all(b is None or _is_int(b) for b in bounds):
            raise TypeError(f"a symbolic tensor's slice bounds must be integers or None; "
                            f"received {item!r} in {key!r}")
        return {"slice": [None if b is None else int(b) for b in bounds]}
    if _is_int(item):
        return int(item)
    raise TypeError(f"a symbolic tensor can be indexed with integers, slices, ... and None; "
                    f"received {item!r} ({type(item).__name__}) in {key!r}. For other "
                    "indexing (arrays, masks, tensors), use a Layer that computes it")


def _is_int(value):
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_))


def decode_key(encoded):
    def one(item):
        if item == "...":
            return Ellipsis
        if isinstance(item, dict):
            return slice(*item["slice"])
        return item
    return tuple(one(item) for item in encoded)


def _keeps_batch(key, ndim):
    """Whether indexing with `key` leaves axis 0 (the batch) first and whole."""
    if not key:
        return True
    first = key[0]
    if first is Ellipsis:
        consumed = sum(1 for k in key if k is not Ellipsis and k is not None)
        return consumed < ndim or _keeps_batch(key[1:], ndim)
    return isinstance(first, slice) and first.start in (None, 0) and first.stop is None \
        and first.step in (None, 1)
