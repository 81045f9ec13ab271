"""`xf.string`, TF's tf.string: one dtype equal to every form text takes on the host (NumPy
str arrays of any width, bytes arrays, object arrays of bytes), named "string".

XLA holds no strings, so text lives in NumPy arrays whose dtype carries a width (`<U3`);
TF code compares `x.dtype == tf.string` and reads `x.dtype.name == "string"`, which NumPy's
own dtypes cannot answer. `string` is not a NumPy dtype (NumPy would compare it by width);
a text HostTensor's dtype is a `TextDType`: its NumPy dtype in everything but that.
"""

from __future__ import annotations

import numpy as np


def _text_kind(other):
    # NumPy's str, bytes and object dtypes: TF's strings in the host pipeline's forms (the
    # Python type `object` is not one: `dtype == object` asks about records, not text)
    if isinstance(other, np.dtype):
        return other.kind in "USO"
    return isinstance(other, type) and other in (str, bytes, np.str_, np.bytes_)


class StringDType:
    """TF's tf.string (one object, `xf.string`): equal to itself, to "string", to any text
    dtype (NumPy str/bytes/object, str, bytes) and to a text tensor's dtype; never to a
    numeric dtype. Not a NumPy dtype: `xf.as_dtype` gives NumPy's str for NumPy calls."""

    name = "string"
    kind = "U"  # the host form's NumPy kind, for code that asks any dtype for it
    as_numpy_dtype = np.object_  # TF's (its .numpy() gives an object array of bytes)
    is_bool = is_integer = is_floating = is_complex = is_quantized = is_unsigned = False
    is_numpy_compatible = True
    as_datatype_enum = 7  # DT_STRING (types.proto)

    @property
    def base_dtype(self):
        return self

    def __eq__(self, other):
        if isinstance(other, StringDType):
            return True
        if isinstance(other, str):
            return other == "string"  # tf.as_dtype's name
        return _text_kind(other)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash("string")

    def __repr__(self):
        return "xf.string"

    def __reduce__(self):
        return "string"  # pickles as the module's one instance


string = StringDType()


class TextDType(StringDType):
    """The dtype of a text tensor: its NumPy dtype (`.dtype`, every attribute but `name`,
    equality with NumPy dtypes), named "string", equal to xf.string and to every other
    text tensor's dtype (and hashed as xf.string), as in TF."""

    __slots__ = ("dtype",)
    # NumPy's testing helpers ask type(x.dtype)._is_numeric, as its DType classes answer
    _is_numeric = False

    def __init__(self, dtype):
        self.dtype = dtype  # NumPy reads this attribute: np.dtype(x.dtype) is the NumPy one

    def __getattr__(self, attribute):  # kind, char, itemsize, type, str, ...
        return getattr(self.dtype, attribute)

    kind = property(lambda self: self.dtype.kind)

    def __eq__(self, other):
        # Two text tensors' dtypes are TF's one tf.string, whatever NumPy width each has
        if isinstance(other, StringDType) or isinstance(other, str) and other == "string":
            return True
        return self.dtype == other

    def __hash__(self):
        # xf.string's: equal objects hash alike, so {tf.string: ...}[x.dtype] finds it
        return hash("string")

    def __repr__(self):
        return f"xf.string ({self.dtype})"

    def __reduce__(self):
        return TextDType, (self.dtype,)


# TF's string where a NumPy dtype must be held (TensorSpec, keras.Input, xf.as_dtype): NumPy's
# str, named "string" and equal to xf.string
HOST_STRING = TextDType(np.dtype(np.str_))
