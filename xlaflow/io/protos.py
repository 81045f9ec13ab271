"""TF's tf.train.Example family and TensorProto as real protobuf messages, wire-compatible
with tensorflow/core/example/{feature,example}.proto and framework/tensor.proto.

The descriptors are built in code (no .proto compile step, no TensorFlow) in a private
pool, with TF's package, message names and field numbers; proto3 packs repeated numbers.
"""

from __future__ import annotations

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED


def _message(file, name, fields, nested=(), oneofs=()):
    message = file.message_type.add(name=name)
    for entry in nested:
        message.nested_type.add().CopyFrom(entry)
    for oneof in oneofs:
        message.oneof_decl.add(name=oneof)
    for field_name, number, kind, label, type_name, oneof in fields:
        field = message.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name
        if oneof is not None:
            field.oneof_index = oneof
    return message


def _map_entry(name, value_type):
    # a proto3 map<string, V> is a repeated nested FooEntry {key = 1; value = 2}
    entry = descriptor_pb2.DescriptorProto(name=name)
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_OPTIONAL)
    entry.field.add(name="value", number=2, type=_F.TYPE_MESSAGE, label=_OPTIONAL,
                    type_name=value_type)
    return entry


def _feature_file():
    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/example/feature.proto", package="tensorflow", syntax="proto3")
    _message(file, "BytesList", [("value", 1, _F.TYPE_BYTES, _REPEATED, None, None)])
    _message(file, "FloatList", [("value", 1, _F.TYPE_FLOAT, _REPEATED, None, None)])
    _message(file, "Int64List", [("value", 1, _F.TYPE_INT64, _REPEATED, None, None)])
    _message(file, "Feature", [
        ("bytes_list", 1, _F.TYPE_MESSAGE, _OPTIONAL, ".tensorflow.BytesList", 0),
        ("float_list", 2, _F.TYPE_MESSAGE, _OPTIONAL, ".tensorflow.FloatList", 0),
        ("int64_list", 3, _F.TYPE_MESSAGE, _OPTIONAL, ".tensorflow.Int64List", 0)],
        oneofs=["kind"])
    _message(file, "Features", [
        ("feature", 1, _F.TYPE_MESSAGE, _REPEATED, ".tensorflow.Features.FeatureEntry", None)],
        nested=[_map_entry("FeatureEntry", ".tensorflow.Feature")])
    _message(file, "FeatureList", [
        ("feature", 1, _F.TYPE_MESSAGE, _REPEATED, ".tensorflow.Feature", None)])
    _message(file, "FeatureLists", [
        ("feature_list", 1, _F.TYPE_MESSAGE, _REPEATED,
         ".tensorflow.FeatureLists.FeatureListEntry", None)],
        nested=[_map_entry("FeatureListEntry", ".tensorflow.FeatureList")])
    return file


def _example_file():
    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/example/example.proto", package="tensorflow", syntax="proto3",
        dependency=["tensorflow/core/example/feature.proto"])
    _message(file, "Example", [
        ("features", 1, _F.TYPE_MESSAGE, _OPTIONAL, ".tensorflow.Features", None)])
    _message(file, "SequenceExample", [
        ("context", 1, _F.TYPE_MESSAGE, _OPTIONAL, ".tensorflow.Features", None),
        ("feature_lists", 2, _F.TYPE_MESSAGE, _OPTIONAL, ".tensorflow.FeatureLists", None)])
    return file


def _tensor_file():
    # TensorShapeProto and TensorProto (dtype as its int: TF's DataType enum values)
    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/framework/tensor.proto", package="tensorflow", syntax="proto3")
    dim = descriptor_pb2.DescriptorProto(name="Dim")
    dim.field.add(name="size", number=1, type=_F.TYPE_INT64, label=_OPTIONAL)
    dim.field.add(name="name", number=2, type=_F.TYPE_STRING, label=_OPTIONAL)
    _message(file, "TensorShapeProto", [
        ("dim", 2, _F.TYPE_MESSAGE, _REPEATED, ".tensorflow.TensorShapeProto.Dim", None),
        ("unknown_rank", 3, _F.TYPE_BOOL, _OPTIONAL, None, None)], nested=[dim])
    _message(file, "TensorProto", [
        ("dtype", 1, _F.TYPE_INT32, _OPTIONAL, None, None),
        ("tensor_shape", 2, _F.TYPE_MESSAGE, _OPTIONAL, ".tensorflow.TensorShapeProto", None),
        ("version_number", 3, _F.TYPE_INT32, _OPTIONAL, None, None),
        ("tensor_content", 4, _F.TYPE_BYTES, _OPTIONAL, None, None),
        ("float_val", 5, _F.TYPE_FLOAT, _REPEATED, None, None),
        ("double_val", 6, _F.TYPE_DOUBLE, _REPEATED, None, None),
        ("int_val", 7, _F.TYPE_INT32, _REPEATED, None, None),
        ("string_val", 8, _F.TYPE_BYTES, _REPEATED, None, None),
        ("scomplex_val", 9, _F.TYPE_FLOAT, _REPEATED, None, None),
        ("int64_val", 10, _F.TYPE_INT64, _REPEATED, None, None),
        ("bool_val", 11, _F.TYPE_BOOL, _REPEATED, None, None),
        ("dcomplex_val", 12, _F.TYPE_DOUBLE, _REPEATED, None, None),
        ("half_val", 13, _F.TYPE_INT32, _REPEATED, None, None),
        ("uint32_val", 16, _F.TYPE_UINT32, _REPEATED, None, None),
        ("uint64_val", 17, _F.TYPE_UINT64, _REPEATED, None, None)])
    return file


_POOL = descriptor_pool.DescriptorPool()
for _file in (_feature_file(), _example_file(), _tensor_file()):
    _POOL.Add(_file)


def _class(name):
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"tensorflow.{name}"))


def _scalar(v):
    # a 0-d array or tensor (a dataset element, TF's EagerTensor in a py_function) as the
    # Python value protobuf takes; TF's tensors convert so, NumPy 0-d arrays do not
    if getattr(v, "ndim", None) == 0 and hasattr(v, "dtype"):
        if hasattr(v, "numpy") and v.dtype.kind in "USO":
            return v.numpy()  # a host string: TF's bytes
        v = v.item()
    if isinstance(v, (bool, np.bool_)):
        return int(v)  # TF's tutorial stores booleans in an Int64List
    return v


class _ListMeta(type):
    """Int64List/FloatList/BytesList as TF users write them: `Int64List(value=[True])`
    and 0-d tensors as values work (TF's tutorial does both; upb's protobuf refuses
    them), and the result is the real message -- isinstance, FromString and the
    descriptor all go to it."""

    def __call__(cls, value=None, **kwargs):
        if value is not None:
            kwargs["value"] = [_scalar(v) for v in value]
        return cls._message(**kwargs)

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls._message)

    def __getattr__(cls, name):
        return getattr(cls._message, name)


class Int64List(metaclass=_ListMeta):
    """TF's tf.train.Int64List (packed int64 values); booleans count as 0 and 1."""
    _message = _class("Int64List")


class FloatList(metaclass=_ListMeta):
    """TF's tf.train.FloatList (packed float32 values)."""
    _message = _class("FloatList")


class BytesList(metaclass=_ListMeta):
    """TF's tf.train.BytesList (bytes values; host string tensors give their bytes)."""
    _message = _class("BytesList")


Feature = _class("Feature")
Features = _class("Features")
FeatureList = _class("FeatureList")
FeatureLists = _class("FeatureLists")
Example = _class("Example")
SequenceExample = _class("SequenceExample")
TensorShapeProto = _class("TensorShapeProto")
TensorProto = _class("TensorProto")
