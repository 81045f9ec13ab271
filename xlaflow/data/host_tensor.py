"""`HostTensor`: the NumPy arrays a Dataset pass yields, with TF's `Tensor.numpy()`.

TF's eager iteration gives tensors, and TF code calls `.numpy()` on them (`for images,
labels in ds.take(1): plt.imshow(images[0].numpy())`). xlaflow's pipeline is NumPy on the
host; a view of the same buffer as this subclass keeps NumPy's dtypes (int64 and float64
stay, as in TF), its speed and zero copies, and adds that one method. NumPy operations on
it give HostTensors too, as TF ops on tensors give tensors; so does indexing one value out
(`labels[i].numpy()`), where NumPy would give a scalar without the method.
"""

from __future__ import annotations

import numpy as np

from xlaflow import _host_text
from xlaflow._string_dtype import TextDType
from xlaflow.data import ragged_elements, sparse_elements, structure
from xlaflow.ragged_tensor import RaggedTensor
from xlaflow.sparse_tensor import SparseTensor

_NDARRAY_DTYPE = np.ndarray.dtype  # NumPy's own attribute, which HostTensor.dtype wraps


class HostTensor(np.ndarray):
    """A NumPy array with TF's `.numpy()` (an element of `iter(dataset)`)."""

    @property
    def dtype(self):
        """NumPy's dtype; for text a TextDType, which is TF's: `x.dtype == xf.string`,
        `x.dtype.name == "string"`, and NumPy's str/bytes/object dtype in all else."""
        dtype = _NDARRAY_DTYPE.__get__(self)
        return TextDType(dtype) if dtype.kind in "USO" else dtype

    @dtype.setter
    def dtype(self, value):
        _NDARRAY_DTYPE.__set__(self, value)

    def numpy(self):
        """The values as a plain NumPy array (a writable copy), a NumPy scalar for 0-d.

        Text is bytes, as TF's strings are: UTF-8 `bytes` for 0-d, else an object array
        of bytes (TF's form); the pipeline itself keeps NumPy's str arrays.
        """
        value = np.array(self, copy=True).view(np.ndarray)
        if value.dtype.kind in "US":
            return text_as_bytes(value)
        return value[()] if value.ndim == 0 else value

    def __getitem__(self, key):
        item = super().__getitem__(key)
        if isinstance(item, np.generic):  # one value: a 0-d tensor, as TF's indexing gives
            return np.asarray(item).view(HostTensor)
        if self.dtype == object and not isinstance(item, np.ndarray):  # bytes (a record)
            out = np.empty((), dtype=object)
            out[()] = item
            return out.view(HostTensor)
        return item

    def __eq__(self, other):
        if _NDARRAY_DTYPE.__get__(self).kind in "USO" and _host_text.is_text(other):
            from xlaflow._host_text_ops import equal  # text == b"a" as TF: bytes are text
            return equal(self, other)
        return super().__eq__(other)

    def __ne__(self, other):
        if _NDARRAY_DTYPE.__get__(self).kind in "USO" and _host_text.is_text(other):
            from xlaflow._host_text_ops import not_equal
            return not_equal(self, other)
        return super().__ne__(other)

    __hash__ = None  # as ndarray's: == is element-wise

    def __repr__(self):
        return repr(self.view(np.ndarray))

    def __str__(self):
        return str(self.view(np.ndarray))


def text_as_bytes(value):
    """A NumPy str/bytes array as TF gives strings: `bytes` for 0-d, else an object array
    of bytes (UTF-8 for text)."""
    def encode(s):
        return s.encode("utf-8") if isinstance(s, str) else bytes(s)
    if value.ndim == 0:
        return encode(value[()])
    out = np.empty(value.shape, dtype=object)
    for index, s in np.ndenumerate(value):
        out[index] = encode(s)
    return out


def with_numpy(element):
    """`element` with each NumPy leaf viewed as a HostTensor (scalars as 0-d ones)."""
    if structure.is_flat_tuple(element):
        return tuple(_view(leaf) for leaf in element)
    return structure.pack_as(element, [_view(leaf) for leaf in structure.flatten(element)])


def as_host_tensors(value):
    """`value` (a structure) with Python and NumPy leaves as HostTensors, converted as a
    source converts them (TF's int32/float32 for Python numbers); leaves that already have
    `.numpy()` (jax arrays, Variables) stay as they are."""
    return structure.pack_as(value, [
        leaf if hasattr(leaf, "numpy") else _view(structure.to_numpy(leaf))
        for leaf in structure.flatten(value)])


def _view(leaf):
    if type(leaf) is SparseTensor:  # TF's iteration gives its indices and values as tensors
        return sparse_elements.viewed(leaf, _view)
    if type(leaf) is RaggedTensor:  # TF's iteration gives RaggedTensors of tensors
        return ragged_elements.viewed(leaf, _view)
    if isinstance(leaf, np.ndarray):
        return leaf.view(HostTensor)
    if isinstance(leaf, np.generic):
        return np.asarray(leaf).view(HostTensor)
    return leaf
