"""tf.sparse: SparseTensor and the ops TF's "Working with sparse tensors" guide uses.

Re-exports only: the class is in sparse_tensor.py, structure in sparse_ops.py, arithmetic
in sparse_math.py. TF names not provided here say what to write instead.
"""

from xlaflow.sparse_math import (  # noqa: F401  (the tf.sparse names)
    add,
    reduce_max,
    reduce_sum,
    sparse_dense_matmul,
)
from xlaflow.sparse_ops import (  # noqa: F401
    concat,
    expand_dims,
    fill_empty_rows,
    from_dense,
    map_values,
    reorder,
    reshape,
    retain,
    slice,
    to_dense,
    to_indicator,
    transpose,
)
from xlaflow.sparse_tensor import SparseTensor  # noqa: F401

_NOT_PROVIDED = {
    "mask": "TF's tf.sparse.mask works on IndexedSlices, which xlaflow has not (gradients "
            "are dense arrays)",
    "cross": "cross the dense features yourself (e.g. xf.strings.join) and look them up",
    "cross_hashed": "cross the dense features yourself and hash them with "
                    "keras.layers.Hashing",
    "softmax": "use xf.nn.softmax on xf.sparse.to_dense(sp, default_value=-inf)",
    "segment_sum": "use xf.math.segment_sum on the gathered rows (xf.gather)",
    "segment_mean": "use xf.math.segment_mean on the gathered rows",
    "segment_sqrt_n": "use xf.math.segment_sum divided by the counts' square roots",
    "minimum": "densify with xf.sparse.to_dense and use xf.minimum",
    "maximum": "densify with xf.sparse.to_dense and use xf.maximum",
    "bincount": "use xf.math.bincount on sp.values",
    "reset_shape": "build a new SparseTensor(sp.indices, sp.values, new_shape)",
    "split": "use xf.sparse.slice once per piece",
    "eye": "build SparseTensor(indices=[[i, i] ...], values, dense_shape) directly",
    "SparseTensorSpec": "TF's is tf.SparseTensorSpec (xf.SparseTensorSpec here, a Dataset's "
                        "spec of sparse components); xf.function traces a SparseTensor "
                        "argument by its dense_shape and dtypes, no spec needed",
}


def __getattr__(name):
    if name in _NOT_PROVIDED:
        raise AttributeError(f"module 'xlaflow.sparse' has no attribute {name!r}: "
                             f"tf.sparse.{name} is not provided; {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'xlaflow.sparse' has no attribute {name!r}")
