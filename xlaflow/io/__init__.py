"""xf.io: TF's tf.io for TFRecord files and tf.train.Example protos, on the host.

Re-exports only: records (framing, writer), parsing (feature specs, parse_example),
tensors (serialize_tensor, read_file), images (decode_jpeg with Pillow), gfile (local
files); the protos themselves are xf.train.Example and its parts.
"""

from xlaflow.io import gfile
from xlaflow.io.images import decode_image, decode_jpeg, decode_png
from xlaflow.io.parsing import (
    FixedLenFeature,
    FixedLenSequenceFeature,
    RaggedFeature,
    VarLenFeature,
    parse_example,
    parse_single_example,
)
from xlaflow.io.records import TFRecordOptions, TFRecordWriter
from xlaflow.io.tensors import parse_tensor, read_file, serialize_tensor, write_file

__all__ = ["FixedLenFeature", "FixedLenSequenceFeature", "RaggedFeature", "TFRecordOptions",
           "TFRecordWriter", "VarLenFeature", "decode_image", "decode_jpeg", "decode_png", "parse_example",
           "parse_single_example", "parse_tensor", "read_file", "serialize_tensor",
           "write_file", "gfile"]


def __getattr__(name):
    # still an AttributeError (hasattr stays False), naming what xf.io does provide
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"module 'xlaflow.io' has no attribute {name!r}: tf.io.{name} is not provided; "
        "xf.io has TFRecordWriter/TFRecordOptions, parse_example/parse_single_example "
        "with FixedLenFeature/FixedLenSequenceFeature/VarLenFeature/RaggedFeature, "
        "serialize_tensor/"
        "parse_tensor, read_file/write_file, decode_image/decode_jpeg/decode_png and "
        "gfile; for other file and byte handling use Python (open, glob, os, numpy.frombuffer)")
