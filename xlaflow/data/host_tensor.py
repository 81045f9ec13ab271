"""`HostTensor`: the NumPy arrays a Dataset pass yields, with TF's `Tensor.numpy()`.

TF's eager iteration gives tensors, and TF code calls `.numpy()` on them (`for images,
labels in ds.take(1): plt.imshow(images[0].numpy())`). xlaflow's pipeline is NumPy on the
host; a view of the same buffer as this subclass keeps NumPy's dtypes (int64 and float64
stay, as in TF), its speed and zero copies, and adds that one method. NumPy operations on
it give HostTensors too, as TF ops on tensors give tensors.
"""

from __future__ import annotations

import numpy as np

from xlaflow.data import structure


class HostTensor(np.ndarray):
    """A NumPy array with TF's `.numpy()` (an element of `iter(dataset)`)."""

    def numpy(self):
        """The values as a plain NumPy array (a writable copy), a NumPy scalar for 0-d."""
        value = np.array(self, copy=True).view(np.ndarray)
        return value[()] if value.ndim == 0 else value

    def __repr__(self):
        return repr(self.view(np.ndarray))


def with_numpy(element):
    """`element` with each NumPy leaf viewed as a HostTensor (scalars as 0-d ones)."""
    if structure.is_flat_tuple(element):
        return tuple(_view(leaf) for leaf in element)
    return structure.pack_as(element, [_view(leaf) for leaf in structure.flatten(element)])


def _view(leaf):
    if isinstance(leaf, np.ndarray):
        return leaf.view(HostTensor)
    if isinstance(leaf, np.generic):
        return np.asarray(leaf).view(HostTensor)
    return leaf
