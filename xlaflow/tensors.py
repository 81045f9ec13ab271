"""Tensors are jax.Arrays: TF-named dtypes, constant, convert_to_tensor and TensorSpec."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _host_text as _text
from xlaflow import (
    _string_dtype,
    _tensor_numpy,  # noqa: F401  (eager tensors get TF's .numpy())
)
from xlaflow._host_arrays import host_to_device
from xlaflow._host_text import is_string_dtype  # noqa: F401  (re-exported: TF's dtype test)
from xlaflow.variables import Variable

# TF's dtype names, as numpy dtype objects: `x.dtype == xf.float32` holds for jax arrays.
bool = jnp.dtype("bool")  # TF's name shadows the builtin inside this module only
int8 = jnp.dtype("int8")
int16 = jnp.dtype("int16")
int32 = jnp.dtype("int32")
int64 = jnp.dtype("int64")
uint8 = jnp.dtype("uint8")
uint16 = jnp.dtype("uint16")
uint32 = jnp.dtype("uint32")
uint64 = jnp.dtype("uint64")
float16 = jnp.dtype("float16")
bfloat16 = jnp.dtype(jnp.bfloat16)
float32 = jnp.dtype("float32")
float64 = jnp.dtype("float64")
complex64 = jnp.dtype("complex64")
complex128 = jnp.dtype("complex128")
half = float16
double = float64
# TF's tf.string: text lives on the host as NumPy str arrays (XLA holds no strings); the one
# `string` equals every width and form of them; keras.Input(dtype=xf.string) feeds host
# layers such as StringLookup
string = _string_dtype.string

Tensor = jax.Array


# TF's DataType enum values (types.proto), which TF accepts wherever a dtype goes: the
# Keras 2 subclassing guide's `tf.zeros(1, 1)` is a float32 zero of shape (1,)
_TF_DATATYPE_ENUM = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16",
                     6: "int8", 8: "complex64", 9: "int64", 10: "bool", 14: "bfloat16",
                     17: "uint16", 18: "complex128", 19: "float16", 22: "uint32",
                     23: "uint64"}


def as_dtype(dtype):
    """Normalize a dtype given as a name, numpy/jnp type, dtype or TF DataType enum value
    to a numpy dtype; TF's string ("string", xf.string) is the host form, NumPy's str
    named "string" (usable wherever NumPy takes a dtype)."""
    if type(dtype) is int:  # not a bool (TF's name `bool` is a dtype in this module)
        if dtype not in _TF_DATATYPE_ENUM:
            raise TypeError(f"dtype: {dtype!r} is not a TF DataType enum value; expected "
                            f"one of {sorted(_TF_DATATYPE_ENUM)} or a dtype name")
        dtype = _TF_DATATYPE_ENUM[dtype]
    if isinstance(dtype, str) and dtype == "bfloat16":
        return bfloat16
    if isinstance(dtype, _string_dtype.TextDType):
        return dtype
    if dtype is string or isinstance(dtype, str) and dtype == "string":
        return _string_dtype.HOST_STRING  # NumPy's str named "string": NumPy calls take it
    return jnp.dtype(dtype)


def _default_dtype(value):
    # TF's defaults for Python values: float32 and int32, strongly typed.
    return jnp.asarray(value).dtype


def constant(value, dtype=None, shape=None, name=None):
    """A tensor from a Python value, NumPy array or tensor (TF's `tf.constant`).

    With `shape`, a scalar is broadcast to it and a value with the same number of elements
    is reshaped to it, as in TF.

    >>> constant(1.0, shape=(2,)).tolist()
    [1.0, 1.0]
    """
    del name  # jax arrays carry no names
    if isinstance(value, Variable):
        value = value.value
    if _text.wants_text(value, dtype):  # before jnp, which may read 'a' as a dtype name
        return _text.host_text(value, dtype, "constant", shape)
    try:
        if dtype is None:
            # NumPy's float64/int64 become float32/int32 unless x64 is on, silently, as in
            # jnp.asarray: only a dtype the caller asks for warns that it is not available
            dtype = jax.dtypes.canonicalize_dtype(value.dtype) if hasattr(value, "dtype") \
                else _default_dtype(value)
            _check_narrowed_integers(value, dtype, "constant")
        else:
            _check_python_floats(value, as_dtype(dtype), "constant")
        if dtype is not None and \
                jax.dtypes.canonicalize_dtype(as_dtype(dtype)) != as_dtype(dtype):
            # dtype=xf.int64 without x64: JAX warns and keeps 32 bits, wrapping the rest
            _check_narrowed_integers(value, jax.dtypes.canonicalize_dtype(as_dtype(dtype)),
                                     "constant")
        out = jnp.asarray(value, dtype=as_dtype(dtype))
    except (TypeError, ValueError) as error:
        clear = _text.host_value_error(value, error, "constant")
        if clear is None:
            raise
        raise clear from None
    if shape is None:
        return out
    shape = tuple(int(d) for d in shape)
    if out.size == 1:
        return jnp.broadcast_to(out.reshape(()), shape)
    if out.size == math.prod(shape):
        return out.reshape(shape)
    raise ValueError(
        f"xf.constant: argument 'shape' is {shape} ({math.prod(shape)} elements) but 'value' "
        f"has shape {out.shape} ({out.size} elements); give a scalar or a value with the same "
        "number of elements."
    )


def _check_narrowed_integers(value, dtype, what):
    """NumPy's 64-bit integers become 32-bit ones without x64, and jnp.asarray wraps values
    past 32 bits silently (2**40 -> 0), in an array or inside a list: refuse those instead
    of corrupting them (jnp refuses Python ints past 32 bits itself)."""
    if np.dtype(dtype).kind not in ("i", "u"):
        return
    parts = [value] if hasattr(value, "dtype") else _host_integer_arrays(value) \
        if type(value) in (list, tuple) else ()
    for part in parts:
        source = part.dtype
        if getattr(source, "kind", None) not in ("i", "u") or source.itemsize <= \
                np.dtype(dtype).itemsize or not np.size(part):
            continue
        info = np.iinfo(dtype)
        low, high = np.min(part), np.max(part)
        if low < info.min or high > info.max:
            raise OverflowError(
                f"xf.{what}: the {source} values span [{low}, {high}], past "
                f"{np.dtype(dtype)} (JAX's integers are 32-bit unless 64-bit mode is on): "
                "enable it with jax.config.update('jax_enable_x64', True) before making "
                "tensors, or keep these values in NumPy")


def _check_python_floats(value, dtype, what):
    """TF refuses a Python float for an integer or bool dtype (`tf.constant(2.5, tf.int32)`:
    "Cannot convert 2.5 to EagerTensor of dtype int32"); jnp.asarray truncates it to 2."""
    if _python_float_for(value, dtype):
        text = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise TypeError(
            f"xf.{what}: cannot convert {text} to a tensor of dtype {np.dtype(dtype)}: TF "
            "converts no Python float to an integer or bool dtype. Round the values first, or "
            "convert them as floats and xf.cast the tensor")


def _python_float_for(value, dtype):
    """Whether `value` (a Python number or nested lists/tuples) holds a Python float and
    `dtype` is an integer or bool dtype."""
    if np.dtype(dtype).kind not in ("i", "u", "b"):
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float:
            return True
        if kind is list or kind is tuple:
            stack.extend(item)
    return False


def _host_integer_arrays(value):
    """The NumPy integer arrays and scalars inside the (nested) list or tuple `value`."""
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float or kind is int:  # the common case, first
            continue
        if kind is list or kind is tuple:
            stack.extend(item)
        elif isinstance(item, (np.ndarray, np.generic)) and item.dtype.kind in "iu":
            found.append(item)
    return found


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None):
    """Converts Python values, NumPy arrays and Variables to a jax.Array (TF's name).

    A value that already has a dtype is never silently cast: a different `dtype` is an error,
    as in TF. `dtype_hint` is used only for Python values.
    """
    del name
    if isinstance(value, Variable):
        value = value.value
    if _text.wants_text(value, dtype):  # jnp's error says less, or reads 'a' as a dtype name
        return _text.host_text(value, dtype, "convert_to_tensor")
    if hasattr(value, "dtype"):
        have = jnp.dtype(value.dtype)
        if dtype is not None and as_dtype(dtype) != have:
            raise TypeError(
                f"xf.convert_to_tensor: requested dtype {as_dtype(dtype)} for a value of dtype "
                f"{have}; use xf.cast to change dtypes."
            )
        if isinstance(value, jax.Array):
            return value
        _check_narrowed_integers(value, jax.dtypes.canonicalize_dtype(have),
                                 "convert_to_tensor")
        if type(value) is np.ndarray:
            return host_to_device(value)  # jnp.asarray would compile a program per shape
        return jnp.asarray(value)
    wanted = dtype if dtype is not None else dtype_hint
    try:
        target = as_dtype(wanted) if wanted is not None else _default_dtype(value)
        if dtype is not None:
            _check_python_floats(value, target, "convert_to_tensor")
        elif _python_float_for(value, target):  # a hint that does not fit is dropped, as TF
            target = _default_dtype(value)
        _check_narrowed_integers(value, jax.dtypes.canonicalize_dtype(target),
                                 "convert_to_tensor")
        return jnp.asarray(value, dtype=target)
    except (TypeError, ValueError) as error:
        clear = _text.host_value_error(value, error, "convert_to_tensor")
        if clear is None:
            raise
        raise clear from None


def _category(dtype):
    for kind in (jnp.bool_, jnp.integer, jnp.floating, jnp.complexfloating):
        if jnp.issubdtype(dtype, kind):
            return kind
    return None


# The dtypes a Python number may take: 1 converts to float32, but 1.5 to int32 does not
_FITS = {jnp.bool_: (jnp.bool_,),
         jnp.integer: (jnp.integer, jnp.floating, jnp.complexfloating),
         jnp.floating: (jnp.floating, jnp.complexfloating),
         jnp.complexfloating: (jnp.complexfloating,)}


def convert_preferred(value, dtype):
    """TF's convert_to_tensor(value, preferred_dtype=dtype) followed by its dtype check, as
    TensorArray.write and map_fn do: (array of `dtype`, name) or (None, the received dtype's
    name). Python numbers and weakly typed JAX scalars take `dtype` when their kind fits."""
    dtype = as_dtype(dtype)
    if isinstance(value, Variable):
        value = value.value
    leaves = jax.tree_util.tree_leaves(value)
    if any(hasattr(leaf, "dtype") for leaf in leaves):
        array = jnp.asarray(value)  # (a NumPy float64 keeps its dtype here, as in TF)
        have = jnp.dtype(getattr(value, "dtype", array.dtype))
        weak = jax.typeof(array).weak_type
    else:
        have, weak, array = np.asarray(value).dtype, True, value
        if _category(have) is None:
            return None, "str" if have.kind in "US" else have.name
    if have == dtype:
        return jnp.asarray(array), dtype.name
    if weak and _category(dtype) in _FITS.get(_category(have), ()):
        return jnp.asarray(array, dtype), dtype.name
    if weak and not hasattr(array, "dtype"):  # what TF makes of a Python number
        have = _default_dtype(array)
    return None, jnp.dtype(have).name


def shapes_compatible(want, have):
    """TF's TensorShape.is_compatible_with: None (unknown rank) fits anything, else the same
    rank with each dimension equal or None on either side."""
    if want is None or have is None:
        return True
    return len(have) == len(want) and all(
        w is None or h is None or w == h for w, h in zip(want, have))


class SpecShape(tuple):
    """A TensorSpec's shape: the tuple of its dimensions (None: any size), which also
    answers TF's TensorShape questions (`spec.shape.as_list()`, `.rank`)."""

    __slots__ = ()

    def as_list(self):
        return list(self)

    @property
    def rank(self):
        return len(self)

    ndims = rank

    def is_fully_defined(self):
        return None not in self


class TensorSpec:
    """Shape and dtype of a tensor; `None` dimensions accept any size.

    Used in `xf.function(input_signature=[...])` to fix what a function accepts.

    >>> TensorSpec([None, 3]).is_compatible_with(jnp.zeros((8, 3)))
    True
    """

    __slots__ = ("shape", "dtype", "name")

    def __init__(self, shape, dtype=float32, name=None):
        self.shape = None if shape is None else SpecShape(None if d is None else int(d)
                                                          for d in shape)
        dtype = as_dtype(dtype)
        if dtype.kind in "USO" and not isinstance(dtype, _string_dtype.TextDType):
            # text of any NumPy width or form (a Dataset's <U5, S3, object bytes) is TF's
            # tf.string: named "string", equal to xf.string, its NumPy dtype kept inside
            dtype = _string_dtype.TextDType(dtype)
        self.dtype = dtype
        self.name = name

    @classmethod
    def from_tensor(cls, tensor, name=None):
        return cls(np.shape(tensor), tensor.dtype, name)

    def is_compatible_with(self, other):
        """True if `other` (a TensorSpec or an array) fits this spec's shape and dtype."""
        shape = other.shape if other.shape is not None else None
        if isinstance(self.dtype, _string_dtype.StringDType):  # any width or form of text
            if _string_dtype.string != other.dtype:
                return False
        elif jnp.dtype(other.dtype) != self.dtype:
            return False
        return self.shape_compatible(shape)

    def shape_compatible(self, shape):
        return shapes_compatible(self.shape, shape)

    def __eq__(self, other):
        return (isinstance(other, TensorSpec) and self.shape == other.shape
                and self.dtype == other.dtype and self.name == other.name)

    def __hash__(self):
        return hash((self.shape, self.dtype, self.name))

    def __repr__(self):
        shape = "None" if self.shape is None else "(" + ", ".join(
            "None" if d is None else str(d) for d in self.shape) + ("," if len(self.shape) == 1
                                                                    else "") + ")"
        return f"TensorSpec(shape={shape}, dtype={self.dtype.name}, name={self.name!r})"


def is_tensor(x):
    """Whether `x` is a tensor (a jax.Array, traced or not) or a Variable, as TF's
    is_tensor (NumPy arrays and Python numbers are not)."""
    return isinstance(x, (jax.Array, Variable))


def executing_eagerly():
    """False while an xf.function traces (its code runs as a compiled program), True
    otherwise, including under run_functions_eagerly(True), as TF."""
    from xlaflow import _lifting
    return _lifting.current() is None
