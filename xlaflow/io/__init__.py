"""xf.io: TF's tf.io for TFRecord files, on the host.

Re-exports only: records (framing, writer).
"""

from xlaflow.io.records import TFRecordOptions, TFRecordWriter

__all__ = ["TFRecordOptions", "TFRecordWriter"]
