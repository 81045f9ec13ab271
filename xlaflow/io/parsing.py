"""TF's tf.io.parse_single_example / parse_example and the feature specs they read, on
the host: serialized tf.train.Example protos to dicts of NumPy arrays.

int64 and float32 values come out as NumPy int64/float32 (the pipeline keeps int64 on
the host, as xf.data does; xf.constant's x64 policy applies when they go to a device);
strings as object arrays of bytes (TF's .numpy() form: lossless for binary data).
VarLenFeature gives TF's SparseTensor: indices [row, position] (one Example: [position]),
the values, dense_shape [batch, longest] (one Example: [count]), on the host as a
Dataset's sparse elements are (string values stay NumPy; xf.sparse.to_dense takes them).
RaggedFeature gives TF's RaggedTensor (or a 1-D array for one Example without
partitions), NumPy-backed as xf.data's ragged elements: see ragged_feature.py.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from xlaflow.errors import InvalidArgumentError
from xlaflow.io.protos import Example
from xlaflow.io.ragged_feature import Plan, RaggedFeature, viewed
from xlaflow.sparse_tensor import SparseTensor
from xlaflow.tensors import as_dtype, is_string_dtype

_KINDS = {"int64": "int64_list", "float32": "float_list", "string": "bytes_list"}
_NUMPY = {"int64": np.dtype(np.int64), "float32": np.dtype(np.float32),
          "string": np.dtype(object)}


class FixedLenFeature(NamedTuple):
    """A feature with a fixed number of values, reshaped to `shape` ([] for a scalar);
    `default_value` fills it in when an Example lacks it (else the Example is an error)."""
    shape: Any
    dtype: Any
    default_value: Any = None


class VarLenFeature(NamedTuple):
    """A feature with any number of values: a SparseTensor, as TF's (see the module
    docstring)."""
    dtype: Any


class FixedLenSequenceFeature(NamedTuple):
    """A feature holding any number of items of `shape`: an array of shape [n] + shape;
    `allow_missing` lets an Example lack it (n = 0); batches pad with `default_value`."""
    shape: Any
    dtype: Any
    allow_missing: bool = False
    default_value: Any = None


def _dtype_name(dtype, key):
    if is_string_dtype(dtype):
        return "string"
    try:
        name = as_dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("int64", "float32"):
        raise ValueError(f"parse_example: feature {key!r} has dtype {dtype!r}; a tf.train."
                         "Example holds int64, float32 or string values only")
    return name


def _shape(shape, key, kind):
    if shape is None:
        raise ValueError(f"parse_example: feature {key!r}: {kind} needs a shape ([] for a "
                         "scalar)")
    dims = [shape] if isinstance(shape, (int, np.integer)) else list(shape)
    if any(d is None or int(d) < 0 for d in dims):
        raise ValueError(f"parse_example: all dimensions of shape for feature {key!r} need "
                         f"to be known; received {list(shape)}")
    return tuple(int(d) for d in dims)


def _values_array(values, dtype):
    if dtype == "string":
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            if not isinstance(v, (str, bytes)):  # bytes(3) would be three NUL bytes
                raise TypeError(f"expected str or bytes, received {type(v).__name__}")
            out[i] = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        return out
    return np.asarray(values, dtype=_NUMPY[dtype])


def _default(value, dtype, shape, key):
    if value is None:
        return None
    try:
        if dtype == "string":
            flat = np.asarray(value, dtype=object).reshape(-1)
            array = _values_array(list(flat), dtype)
        else:
            array = np.asarray(value, dtype=_NUMPY[dtype]).reshape(-1)
    except (TypeError, ValueError) as e:
        raise ValueError(f"parse_example: default_value of feature {key!r} must be "
                         f"{dtype} values; received {value!r:.60} ({e})") from None
    size = math.prod(shape)
    if array.size == 1 and size != 1:
        array = np.repeat(array, size)
    if array.size != size:
        raise ValueError(f"parse_example: default_value of feature {key!r} has "
                         f"{array.size} values; shape {list(shape)} needs {size}")
    return array.reshape(shape)


_MISSING = object()


class _Spec:
    # one feature's spec, checked once per call before any Example is parsed
    def __init__(self, key, feature, batched):
        self.key = key
        if isinstance(feature, FixedLenFeature):
            self.kind, self.dtype = "fixed", _dtype_name(feature.dtype, key)
            self.shape = _shape(feature.shape, key, "FixedLenFeature")
            self.default = _default(feature.default_value, self.dtype, self.shape, key)
        elif isinstance(feature, FixedLenSequenceFeature):
            self.kind, self.dtype = "sequence", _dtype_name(feature.dtype, key)
            self.shape = _shape(feature.shape, key, "FixedLenSequenceFeature")
            if batched and not feature.allow_missing:
                raise ValueError(f"parse_example: FixedLenSequenceFeature {key!r} needs "
                                 "allow_missing=True in a tf.train.Example (as TF)")
            self.allow_missing = bool(feature.allow_missing)
            self.pad = _default(feature.default_value, self.dtype, (), key)
        elif isinstance(feature, VarLenFeature):
            self.kind, self.dtype, self.shape = "varlen", _dtype_name(feature.dtype, key), ()
        elif isinstance(feature, RaggedFeature):
            self.kind, self.dtype, self.shape = "ragged", _dtype_name(feature.dtype, key), ()
            self.plan = Plan(key, feature)
        else:
            raise TypeError(f"parse_example: features[{key!r}] must be a FixedLenFeature, "
                            f"FixedLenSequenceFeature, VarLenFeature or RaggedFeature; "
                            f"received {type(feature).__name__} (SparseFeature is not "
                            "provided: use VarLenFeature or RaggedFeature)")

    def raw(self, example, index, key=None, dtype=None):
        """The values of feature `key` (default: this one's) in `example` (protobuf's
        repeated field), or None when it is absent."""
        key, dtype = key or self.key, dtype or self.dtype
        feature = example.features.feature.get(key)
        if feature is None:
            return None
        kind = feature.WhichOneof("kind")
        if kind is not None and kind != _KINDS[dtype]:
            have = {v: k for k, v in _KINDS.items()}[kind]
            raise InvalidArgumentError(None, None, f"Name: {index}, Feature: {key}.  "
                                       f"Data types don't match. Data type: {have} but "
                                       f"expected type: {dtype}")
        return getattr(feature, _KINDS[dtype]).value if kind else []

    def ragged(self, example, index):
        """A RaggedFeature's result for one Example; absent features hold no values."""
        values = self.raw(example, index, self.plan.value_key)
        parts = {}
        for key in self.plan.keys:
            part = self.raw(example, index, key, "int64")
            parts[key] = [] if part is None else part
        return self.plan.build(_values_array([] if values is None else values, self.dtype),
                               parts, index)

    def values(self, example, index):
        """The feature's values in `example` (1-D), or None when it is absent."""
        values = self.raw(example, index)
        return None if values is None else _values_array(values, self.dtype)

    def fixed_row(self, example, index):
        """A FixedLenFeature's values (the repeated field, or the default's), checked."""
        values = self.raw(example, index)
        if values is None:
            if self.default is None:
                raise InvalidArgumentError(
                    None, None, f"Name: {index}, Feature: {self.key} (data type: "
                    f"{self.dtype}) is required but could not be found.")
            return self.default.reshape(-1)
        if len(values) != math.prod(self.shape):
            raise InvalidArgumentError(
                None, None, f"Name: {index}, Key: {self.key}, Index: 0.  Number of "
                f"{self.dtype} values != expected.  Values size: {len(values)} but "
                f"output shape: {list(self.shape)}")
        return values

    def fixed_column(self, examples):
        """A FixedLenFeature over a batch: one conversion for all the rows."""
        rows = [self.fixed_row(ex, i) for i, ex in enumerate(examples)]
        shape = (len(rows),) + self.shape
        if self.dtype == "string":
            out = np.empty((len(rows), math.prod(self.shape)), dtype=object)
            for i, row in enumerate(rows):
                out[i, :] = [v.encode("utf-8") if isinstance(v, str) else bytes(v)
                             for v in row]
            return out.reshape(shape)
        return np.array(rows, dtype=_NUMPY[self.dtype]).reshape(shape)

    def parse(self, example, index):
        if self.kind == "fixed":
            row = self.fixed_row(example, index)
            return (row.copy() if isinstance(row, np.ndarray) else
                    _values_array(row, self.dtype)).reshape(self.shape)
        values = self.values(example, index)
        if self.kind == "sequence":
            if values is None:
                if not self.allow_missing:
                    raise InvalidArgumentError(
                        None, None, f"Name: {index}, Feature list: {self.key} is required "
                        "but could not be found (set allow_missing=True).")
                return _values_array([], self.dtype).reshape((0,) + self.shape)
            item = math.prod(self.shape)
            if (item == 0 and values.size) or (item and values.size % item):
                raise InvalidArgumentError(
                    None, None, f"Name: {index}, Key: {self.key}.  Number of {self.dtype} "
                    f"values {values.size} is not a multiple of {item} (shape "
                    f"{list(self.shape)})")
            return values.reshape((-1,) + self.shape)
        return _values_array([], self.dtype) if values is None else values

    def sparse(self, parsed, batched):
        """VarLen values as TF's SparseTensor: entry j of Example i at [i, j] in a
        [batch, longest] shape (batched), else at [j] in a [count] shape."""
        if not batched:
            indices = np.arange(len(parsed), dtype=np.int64)[:, None]
            return _sparse_host(indices, parsed, (len(parsed),))
        lengths = np.array([len(p) for p in parsed], dtype=np.int64)
        rows = np.repeat(np.arange(len(parsed), dtype=np.int64), lengths)
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        positions = np.arange(rows.size, dtype=np.int64) - starts
        values = np.concatenate(parsed) if parsed else _values_array([], self.dtype)
        return _sparse_host(np.stack([rows, positions], axis=1), values,
                            (len(parsed), int(lengths.max(initial=0))))

    def stack(self, parsed):
        """Sequence features over a batch, padded to the longest."""
        length = max((len(p) for p in parsed), default=0)
        out = _filled((len(parsed), length) + self.shape, self.dtype, self.pad)
        for i, p in enumerate(parsed):
            out[i, :len(p)] = p
        return out


def _filled(shape, dtype, fill=None):
    """An array of `shape` holding `fill` (default: 0, or b"" for strings)."""
    if dtype == "string":
        out = np.empty(shape, dtype=object)
        out[...] = b"" if fill is None else fill
    else:
        out = np.zeros(shape, dtype=_NUMPY[dtype])
        if fill is not None:
            out[...] = fill
    return out


def _serialized(value, what, arg="serialized", expected="a serialized tf.train.Example"):
    """One string as bytes (a serialized proto, a file's contents or name), from bytes, a
    str, a record element or a tensor; a traced value is refused: strings stay on the host."""
    import jax
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"{what}: `{arg}` is a traced value inside a compiled function "
                        "(xf.function); strings never enter XLA in xlaflow: call it eagerly "
                        "or in a Dataset.map, and pass the compiled function numbers")
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise ValueError(f"{what}: `{arg}` must be a scalar string; received shape "
                             f"{value.shape}")
        value = value.item()  # the Python bytes or str
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what}: `{arg}` must be bytes ({expected}); received "
                    f"{type(value).__name__}")


def _decode(data, index, what):
    try:
        return Example.FromString(data)
    except Exception as e:  # noqa: BLE001  (protobuf's DecodeError, re-raised as TF's)
        raise InvalidArgumentError(None, None, f"{what}: could not parse example input "
                                   f"{index} as a tf.train.Example: {e}") from None


_checked = {}  # (id(features), batched) -> (its items when checked, their _Specs)


def _specs(features, batched, what):
    """The checked specs of `features`; a map function passes the same dict for every
    record, so they are kept while the dict holds the very same feature objects."""
    if not isinstance(features, dict) or not features:
        raise TypeError(f"{what}: `features` must be a non-empty dict of feature name to "
                        f"FixedLenFeature/VarLenFeature/...; received {features!r:.80}")
    key = (id(features), batched)
    hit = _checked.get(key)
    if hit is not None and len(hit[0]) == len(features) and \
            all(features.get(name, _MISSING) is spec for name, spec in hit[0]):
        return hit[1]
    specs = [_Spec(name, feature, batched) for name, feature in features.items()]
    if len(_checked) >= 64:
        _checked.clear()
    _checked[key] = (tuple(features.items()), specs)
    return specs


def _host(value):
    from xlaflow.data.host_tensor import HostTensor  # `.numpy()`, as TF's eager results
    return value.view(HostTensor)


def _sparse_host(indices, values, dense_shape):
    # valid by construction (row-major, inside dense_shape): built unchecked, as the
    # pipeline holds sparse elements (NumPy leaves, viewed with `.numpy()`)
    return SparseTensor._unchecked(_host(indices), _host(values), dense_shape)


def parse_single_example(serialized, features, example_names=None, name=None):
    """TF's `tf.io.parse_single_example`: one serialized Example to a dict of arrays."""
    specs = _specs(features, False, "parse_single_example")
    example = _decode(_serialized(serialized, "parse_single_example"), 0,
                      "parse_single_example")
    out = {}
    for spec in specs:
        if spec.kind == "ragged":
            out[spec.key] = viewed(spec.ragged(example, 0), _host)
        elif spec.kind == "varlen":
            out[spec.key] = spec.sparse(spec.parse(example, 0), False)
        else:
            out[spec.key] = _host(np.asarray(spec.parse(example, 0)))
    return out


def parse_example(serialized, features, example_names=None, name=None):
    """TF's `tf.io.parse_example`: a vector of serialized Examples to a dict of batched
    arrays (leading dimension: the batch)."""
    specs = _specs(features, True, "parse_example")
    if hasattr(serialized, "numpy") and not isinstance(serialized, np.ndarray):
        serialized = serialized.numpy()
    if isinstance(serialized, (bytes, str)) or (
            isinstance(serialized, np.ndarray) and serialized.ndim != 1):
        raise ValueError("parse_example: `serialized` must be a vector of serialized "
                         f"Examples; received {type(serialized).__name__} of shape "
                         f"{np.shape(serialized)} (use parse_single_example for one)")
    if isinstance(serialized, np.ndarray) and serialized.dtype != object:
        serialized = serialized.astype(object)  # str/bytes dtypes: item() per row
    examples = [_decode(_serialized(v, "parse_example"), i, "parse_example")
                for i, v in enumerate(serialized)]
    out = {}
    for spec in specs:
        if spec.kind == "fixed":
            out[spec.key] = _host(spec.fixed_column(examples))
            continue
        if spec.kind == "ragged":
            rows = [spec.ragged(ex, i) for i, ex in enumerate(examples)]
            out[spec.key] = viewed(spec.plan.stack(rows, _values_array([], spec.dtype)),
                                   _host)
            continue
        parsed = [spec.parse(ex, i) for i, ex in enumerate(examples)]
        out[spec.key] = spec.sparse(parsed, True) if spec.kind == "varlen" else \
            _host(spec.stack(parsed))
    return out
