"""Text as TF's eager string tensors, on the host: NumPy str arrays (object arrays of bytes
for binary strings) viewed as HostTensor, and the errors for text where XLA would see it.

XLA holds no strings, so xf.constant/convert_to_tensor of text make host values that host
layers (StringLookup, TextVectorization), xf.strings, xf.io's parsers and the shape ops'
text forms (_host_text_ops) read, and refuse text in a trace.
"""

from __future__ import annotations

import math

import numpy as np

from xlaflow._string_dtype import StringDType


def is_string_dtype(dtype):
    """Whether `dtype` names TF's string type: "string", xf.string, str, bytes or a NumPy
    str/bytes dtype (object too: TF's `.numpy()` of strings is an object array of bytes)."""
    if isinstance(dtype, str):
        return dtype in ("string", "str", "bytes", "object")
    if isinstance(dtype, StringDType):  # xf.string, a text tensor's dtype
        return True
    if dtype in (str, bytes, np.str_, np.bytes_, object):
        return True
    return isinstance(dtype, np.dtype) and dtype.kind in "USO"


def host_text(value, dtype, where, shape=None):
    """Text as TF's eager string tensor would be, on the host: a NumPy str array viewed as a
    HostTensor (`.numpy()` gives bytes, as TF's). Inside a trace text would enter XLA,
    which holds no strings: refused there, naming what to write instead."""
    from xlaflow import _lifting
    if _lifting.current() is not None:
        raise host_value_error(value, None, where)
    if dtype is not None and not is_string_dtype(dtype):
        raise TypeError(f"xf.{where}: requested dtype {dtype!r} for text {value!r:.60}; "
                        "text stays a string (convert it with a StringLookup or a Python "
                        "vocabulary)")
    binary = _binary(value)
    if binary is not None:
        return _shaped(binary, shape, where).view(host_tensor_type())
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise host_value_error([], error, where) from None
    if array.size == 0:  # tf.constant([], tf.string): an empty string tensor
        array = array.astype(str)
    elif array.dtype.kind not in "USO":
        raise TypeError(f"xf.{where}: requested dtype string for {array.dtype} values "
                        f"{value!r:.60}; TF does not convert numbers to text either: format "
                        "them first (str(), np.char.mod('%d', values))")
    try:
        if array.dtype.kind == "S":
            array = np.char.decode(array, "utf-8")
        elif array.dtype.kind != "U":  # object: str and bytes, and nothing else
            flat = array.reshape(-1).tolist()
            other = [v for v in flat if not isinstance(v, (str, bytes))]
            if other:
                raise TypeError(f"xf.{where}: text mixed with {type(other[0]).__name__} "
                                f"({other[0]!r}); a tensor holds one dtype")
            array = np.array([v.decode("utf-8") if isinstance(v, bytes) else v
                              for v in flat], dtype=str).reshape(array.shape)
    except UnicodeDecodeError as error:  # NumPy bytes (dtype S) that are not UTF-8
        raise ValueError(f"xf.{where}: a NumPy bytes array that is not UTF-8 text ({error}); "
                         "give binary strings as Python bytes (kept exactly, as TF's) or "
                         "as an object array of bytes") from None
    return _shaped(array, shape, where).view(host_tensor_type())


def host_tensor_type():
    """HostTensor, the class host text values are (imported on use: the data package
    imports jax only)."""
    from xlaflow.data.host_tensor import HostTensor
    return HostTensor


def _shaped(array, shape, where):
    """`array` in the requested `shape` (None: its own); one value fills any shape."""
    if shape is None:
        return array
    shape = tuple(int(d) for d in shape)
    if array.size != 1 and array.size != math.prod(shape):
        raise ValueError(f"xf.{where}: argument 'shape' is {shape} ({math.prod(shape)} "
                         f"elements) but 'value' has {array.size} values (shape "
                         f"{array.shape}); give one string or as many as the shape holds")
    return np.broadcast_to(array.reshape(()), shape).copy() if array.size == 1 else \
        array.reshape(shape)


def _binary(value):
    """`value` (bytes, or nested lists of bytes) as an object array of bytes when some are
    not plain UTF-8 text (a serialized tf.train.Example, a trailing NUL, which NumPy's
    bytes dtype drops): TF's strings are bytes, kept exactly, as Dataset records are.
    None for text, which stays a NumPy str array."""
    leaves = []

    def walk(v):
        if isinstance(v, bytes):
            leaves.append(v)
            return True
        return isinstance(v, (list, tuple)) and all(walk(x) for x in v)

    if not walk(value) or not leaves or all(b"\x00" not in b and _utf8(b) for b in leaves):
        return None
    array = np.array(value, dtype=object)
    return array if all(isinstance(v, bytes) for v in array.reshape(-1)) else None


def _utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def wants_text(value, dtype):
    """Whether `value` becomes a host string tensor: text, a NumPy str/bytes array (empty
    too), or anything with dtype=xf.string asked for (tf.constant([], tf.string))."""
    if is_text(value) or getattr(getattr(value, "dtype", None), "kind", None) in ("U", "S"):
        return True
    if isinstance(dtype, StringDType):
        return True
    return dtype is not None and is_string_dtype(dtype) and dtype not in ("object", object) \
        and not (isinstance(dtype, np.dtype) and dtype.kind == "O")


def is_text(value):
    """Whether `value` is a str, bytes, or an array or nested list of them."""
    if isinstance(value, (str, bytes)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "USO" and value.size and is_text(value.flat[0])
    return isinstance(value, (list, tuple)) and len(value) > 0 and is_text(value[0])


def host_value_error(value, error, where):
    """The error for a value XLA cannot hold, naming what to write instead (TF's string and
    ragged tensors have no XLA form); None when `error` is about something else."""
    if is_text(value):
        return TypeError(
            f"xf.{where}: received text {value!r:.60}; XLA has no string tensors (tf.string): "
            "handle text in Python or NumPy (e.g. in a Dataset.map before batching) and "
            "feed integer ids (a vocabulary dict, keras.layers.StringLookup)")
    if isinstance(error, ValueError) and "inhomogeneous" in str(error):
        return ValueError(
            f"xf.{where}: received a non-rectangular (ragged) nested list {value!r:.60}; a "
            "tensor is rectangular, as TF's: make rows of different lengths a RaggedTensor "
            "(xf.ragged.constant(rows)), or pad them (keras.utils.pad_sequences, "
            "Dataset.padded_batch) and carry a mask or lengths")
    return None
