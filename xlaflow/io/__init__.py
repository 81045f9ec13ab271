"""xf.io: TF's tf.io for TFRecord files and tf.train.Example protos, on the host.

Re-exports only: records (framing, writer), parsing (feature specs, parse_example),
tensors (serialize_tensor, read_file) and the protos themselves (xf.train.Example).
"""

from xlaflow.io.parsing import (
    FixedLenFeature,
    FixedLenSequenceFeature,
    VarLenFeature,
    parse_example,
    parse_single_example,
)
from xlaflow.io.records import TFRecordOptions, TFRecordWriter
from xlaflow.io.tensors import parse_tensor, read_file, serialize_tensor, write_file

__all__ = ["FixedLenFeature", "FixedLenSequenceFeature", "TFRecordOptions", "TFRecordWriter",
           "VarLenFeature", "parse_example", "parse_single_example", "parse_tensor",
           "read_file", "serialize_tensor", "write_file"]
