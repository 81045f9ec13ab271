"""xf.profiler: TF's tf.profiler namespace (its `experimental` module holds the API)."""

from xlaflow.profiler import experimental

__all__ = ["experimental"]
