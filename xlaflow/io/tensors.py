"""TF's tf.io.serialize_tensor / parse_tensor (a TensorProto, TF's wire format) and
read_file / write_file, on the host.

Numbers go in `tensor_content` (little-endian, as TF writes them); strings in
`string_val`. Results are host arrays with `.numpy()`, as the pipeline's elements are.
"""

from __future__ import annotations

import os

import numpy as np

from xlaflow.errors import InvalidArgumentError, NotFoundError
from xlaflow.io.protos import TensorProto
from xlaflow.tensors import _TF_DATATYPE_ENUM, as_dtype, is_string_dtype

_STRING_ENUM = 7
_ENUM = {name: number for number, name in _TF_DATATYPE_ENUM.items()}
_BY_ENUM = {number: np.dtype(as_dtype(name)) for number, name in _TF_DATATYPE_ENUM.items()}


def _host(array):
    from xlaflow.data.host_tensor import HostTensor
    return np.asarray(array).view(HostTensor)


def _bytes_array(value):
    array = np.asarray(value, dtype=object)
    out = np.empty(array.shape, dtype=object)
    for index, v in np.ndenumerate(array):
        if isinstance(v, np.ndarray):
            v = v.item()
        out[index] = v.encode("utf-8") if isinstance(v, str) else bytes(v)
    return out


def serialize_tensor(tensor, name=None):
    """TF's `tf.io.serialize_tensor`: `tensor` as a serialized TensorProto (a 0-d bytes
    element, as TF's scalar string)."""
    if hasattr(tensor, "numpy") and not isinstance(tensor, np.ndarray):
        tensor = tensor.numpy()
    if not isinstance(tensor, (str, bytes, np.ndarray, np.generic)):
        # Python values as TF converts them: float32 and int32 numbers, strings as bytes
        from xlaflow.data.structure import to_numpy
        tensor = to_numpy(tensor)
    if isinstance(tensor, (str, bytes)) or (
            isinstance(tensor, (np.ndarray, np.generic)) and tensor.dtype.kind in "USO"):
        values = _bytes_array(tensor)
        proto = TensorProto(dtype=_STRING_ENUM, string_val=list(values.reshape(-1)))
    else:
        values = np.asarray(tensor)
        if values.dtype.name not in _ENUM:
            raise TypeError(f"serialize_tensor: `tensor` has dtype {values.dtype.name}, which "
                            "has no TF DataType")
        little = values.astype(values.dtype.newbyteorder("<"), copy=False)
        proto = TensorProto(dtype=_ENUM[values.dtype.name],
                            tensor_content=np.ascontiguousarray(little).tobytes())
    proto.tensor_shape.SetInParent()  # TF writes the shape even for a scalar
    for size in values.shape:
        proto.tensor_shape.dim.add(size=size)
    out = np.empty((), dtype=object)
    out[()] = proto.SerializeToString()
    return _host(out)


def parse_tensor(serialized, out_type, name=None):
    """TF's `tf.io.parse_tensor`: a serialized TensorProto back to a tensor of `out_type`
    (which must be the dtype it was serialized with, as TF checks)."""
    from xlaflow.io.parsing import _serialized
    data = _serialized(serialized, "parse_tensor")
    try:
        proto = TensorProto.FromString(data)
    except Exception as e:  # noqa: BLE001  (protobuf's DecodeError, re-raised as TF's)
        raise InvalidArgumentError(None, None, f"parse_tensor: could not parse `serialized` "
                                   f"as a TensorProto: {e}") from None
    want = _STRING_ENUM if is_string_dtype(out_type) else _ENUM.get(as_dtype(out_type).name)
    if proto.dtype != want:
        have = "string" if proto.dtype == _STRING_ENUM else _TF_DATATYPE_ENUM.get(
            proto.dtype, f"enum {proto.dtype}")
        asked = "string" if is_string_dtype(out_type) else as_dtype(out_type).name
        raise InvalidArgumentError(None, None, f"parse_tensor: type mismatch between parsed "
                                   f"tensor ({have}) and dtype ({asked})")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    count = int(np.prod(shape, dtype=np.int64))
    if want == _STRING_ENUM:
        values = _bytes_array(list(proto.string_val))
    elif count == 0:  # no values, no content: proto3 leaves the empty field out
        values = np.zeros(0, _BY_ENUM[want])
    elif proto.tensor_content:
        values = np.frombuffer(proto.tensor_content,
                               dtype=_BY_ENUM[want].newbyteorder("<")).astype(_BY_ENUM[want])
    else:  # TF's typed fields (written by TF for small constants)
        values = _typed_values(proto, want)
        if values.size == 1 and count != 1:
            values = np.repeat(values, count)  # TF repeats the last value to fill
    if values.size != count:
        raise InvalidArgumentError(None, None, f"parse_tensor: the TensorProto holds "
                                   f"{values.size} values for shape {list(shape)}")
    return _host(values.reshape(shape))


def _typed_values(proto, enum):
    dtype = _BY_ENUM[enum]
    if dtype.kind == "f" and dtype.itemsize == 8:
        return np.asarray(proto.double_val, dtype)
    if dtype in (np.float32,):
        return np.asarray(proto.float_val, dtype)
    if dtype.name == "float16" or dtype.name == "bfloat16":
        return np.asarray(proto.half_val, np.uint16).view(dtype)
    if dtype == np.bool_:
        return np.asarray(proto.bool_val, dtype)
    if dtype.name == "int64":
        return np.asarray(proto.int64_val, dtype)
    if dtype.name == "uint32":
        return np.asarray(proto.uint32_val, dtype)
    if dtype.name == "uint64":
        return np.asarray(proto.uint64_val, dtype)
    if dtype.kind in "iu":
        return np.asarray(proto.int_val).astype(dtype)
    raise NotImplementedError(f"parse_tensor: a {dtype.name} TensorProto without "
                              "tensor_content is not provided; serialize it with "
                              "xf.io.serialize_tensor")


def read_file(filename, name=None):
    """TF's `tf.io.read_file`: the file's whole contents (a 0-d bytes element)."""
    from xlaflow.io.parsing import _serialized
    path = os.fspath(_serialized(filename, "read_file", "filename", "a file name").decode("utf-8")
                     if not isinstance(filename, os.PathLike) else filename)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise NotFoundError(None, None, f"read_file: {path}; No such file or directory") \
            from None
    out = np.empty((), dtype=object)
    out[()] = data
    return _host(out)


def write_file(filename, contents, name=None):
    """TF's `tf.io.write_file`: `contents` (bytes or str) as the file's contents (missing
    folders made, as TF's), written to a temporary name and renamed: never half-written."""
    from xlaflow.io.parsing import _serialized
    path = os.fspath(_serialized(filename, "write_file", "filename", "a file name").decode("utf-8")
                     if not isinstance(filename, os.PathLike) else filename)
    data = _serialized(contents, "write_file", "contents", "the file's contents")
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)  # TF creates missing folders, recursively
    from xlaflow.saving import atomic
    with atomic.replacing(path) as temp, open(temp, "wb") as f:
        f.write(data)
