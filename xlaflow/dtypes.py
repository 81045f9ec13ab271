"""xf.dtypes: TF's tf.dtypes namespace, the dtype names, `as_dtype`, `cast` and `complex`
that xlaflow also has at the top level, and `DType`, the type every dtype here is."""

from __future__ import annotations

import numpy as np

# cast and complex are the top-level ops themselves, which accept symbolic Keras tensors
from xlaflow import _string_dtype, cast, complex  # noqa: F401
from xlaflow.tensors import (  # noqa: F401
    _TF_DATATYPE_ENUM,
    as_dtype,
    bfloat16,
    bool,
    complex64,
    complex128,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    string,
    uint8,
    uint16,
    uint32,
    uint64,
)


class _DTypeMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, (np.dtype, _string_dtype.StringDType))


class DType(metaclass=_DTypeMeta):
    """TF's tf.dtypes.DType. xlaflow's dtypes are NumPy dtypes (xf.string its own), so
    `isinstance(x.dtype, xf.dtypes.DType)` holds for them, and `DType(type_enum)` gives
    the dtype of a TF DataType enum value (`DType(3)` is xf.int32), as TF's constructor."""

    def __new__(cls, type_enum):
        if type(type_enum) is not int or type_enum not in _TF_DATATYPE_ENUM:
            raise TypeError(f"DType: type_enum must be a TF DataType enum value, one of "
                            f"{sorted(_TF_DATATYPE_ENUM)}; received {type_enum!r} (xf.as_dtype "
                            f"takes names and NumPy types)")
        return as_dtype(type_enum)


# tf.dtypes names a port may reach for, and what to write instead
_NOT_PROVIDED = {
    **dict.fromkeys(("qint8", "qint16", "qint32", "quint8", "quint16", "QUANTIZED_DTYPES"),
                    "XLA has no quantized dtypes here: keep int8/uint8 values and their scale "
                    "as separate tensors"),
    "saturate_cast": "write xf.cast(xf.clip_by_value(x, lo, hi), dtype) with the target "
                     "dtype's bounds (np.iinfo / np.finfo)",
    "resource": "xlaflow's Variables are Python objects, not resource tensors",
    "variant": "xlaflow has no variant tensors (TensorArray and datasets are Python objects)",
}


def __getattr__(name):
    if name in _NOT_PROVIDED:  # still an AttributeError: hasattr() stays False
        raise AttributeError(f"module 'xlaflow.dtypes' has no attribute {name!r}: "
                             f"tf.dtypes.{name} is not provided; {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'xlaflow.dtypes' has no attribute {name!r}")
