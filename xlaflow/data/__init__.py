"""xf.data: TF's tf.data input pipelines on the host -- `Dataset` of NumPy elements.

Pipelines run in Python beside the compiled step, never inside it: iterate a dataset and
call the step on each batch. Re-exports only.
"""

from xlaflow.data import experimental
from xlaflow.data.dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.files import TextLineDataset
from xlaflow.data.options import Options, ThreadingOptions
from xlaflow.data.tfrecord import TFRecordDataset
from xlaflow.data.windows import DatasetSpec

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset", "DatasetSpec",
           "Options", "TextLineDataset", "TFRecordDataset", "ThreadingOptions", "experimental"]
