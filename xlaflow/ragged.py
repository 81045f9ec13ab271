"""tf.ragged: RaggedTensor and the ops TF's "Ragged tensors" guide uses.

Re-exports only: the class is in ragged_tensor.py, conversions in ragged_convert.py, row
partitions in ragged_rows.py, the dispatched ops in ragged_dispatch.py, boolean_mask
in ragged_mask.py.
"""

from xlaflow.ragged_convert import constant  # noqa: F401  (the tf.ragged names)
from xlaflow.ragged_mask import boolean_mask  # noqa: F401
from xlaflow.ragged_math import map_flat_values  # noqa: F401
from xlaflow.ragged_rows import (  # noqa: F401
    range,
    row_splits_to_segment_ids,
    segment_ids_to_row_splits,
)
from xlaflow.ragged_spec import RaggedTensorSpec  # noqa: F401
from xlaflow.ragged_tensor import RaggedTensor  # noqa: F401

_NOT_PROVIDED = {
    "stack_dynamic_partitions": "gather each partition's rows with xf.gather(rt, ids) "
                                "eagerly and xf.stack them",
    "cross": "cross the features yourself (e.g. xf.strings.join) and look them up",
    "cross_hashed": "cross the features yourself and hash them with keras.layers.Hashing",
}


def __getattr__(name):
    if name in _NOT_PROVIDED:
        raise AttributeError(f"module 'xlaflow.ragged' has no attribute {name!r}: "
                             f"tf.ragged.{name} is not provided; {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'xlaflow.ragged' has no attribute {name!r}")
