"""TensorFlow's names for dtypes (DT_FLOAT, ...), as TF Serving and saved_model_cli print them."""

from __future__ import annotations

import numpy as np

_TF = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF",
       "bfloat16": "DT_BFLOAT16", "int8": "DT_INT8", "int16": "DT_INT16", "int32": "DT_INT32",
       "int64": "DT_INT64", "uint8": "DT_UINT8", "uint16": "DT_UINT16", "uint32": "DT_UINT32",
       "uint64": "DT_UINT64", "bool": "DT_BOOL", "complex64": "DT_COMPLEX64",
       "complex128": "DT_COMPLEX128"}


def tf_name(dtype):
    """'DT_FLOAT' for float32, ...; 'DT_INVALID' for a dtype TF has no name for."""
    return _TF.get(np.dtype(dtype).name if not isinstance(dtype, str) else dtype, "DT_INVALID")
