"""Keras 2's Hashing layer, host-side: strings (or integers, as their decimal strings) to
bins by FarmHash Fingerprint64 modulo num_bins, or SipHash-2-4 keyed by a `salt`.

Both hashes run in Python on the host (XLA has no uint64 string hash), so the layer is a
host layer like StringLookup, integer inputs included: call it in the input pipeline
(Dataset.map) or first in a model, whose host part runs it before the compiled part.
"""

from __future__ import annotations

import jax
import numpy as np

from xlaflow._farmhash import fingerprint64
from xlaflow._siphash import siphash24
from xlaflow.layers import host_strings, lookup_encoding

_MODES = ("int", "one_hot", "multi_hot", "count")
_UINT64 = 1 << 64


def _salt_key(salt):
    """Keras 2's salt as TF's two-word SipHash key: an int k is [k, k]; a pair as given."""
    if salt is None:
        return None
    pair = [salt, salt] if isinstance(salt, (int, np.integer)) else salt
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 0 <= k < _UINT64
            for k in pair):
        raise ValueError(f"Hashing: salt must be None, an unsigned 64-bit int or a tuple/list "
                         f"of 2 of them; received {salt!r}")
    return [int(k) for k in pair]


class Hashing(host_strings.HostLayer):
    """Each string's (or integer's decimal string's) bin: Fingerprint64 % num_bins, or
    SipHash-2-4 under `salt` % num_bins; with `mask_value`, inputs equal to it go to bin 0
    and the rest to 1 + hash % (num_bins - 1). `int` bins are int64, encodings float32."""

    _traced_why = ("it hashes on the host, integers included (FarmHash/SipHash of their "
                   "decimal strings in Python), so it cannot be traced")

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or \
                num_bins < 1:
            raise ValueError(f"Hashing: num_bins must be a positive int; received "
                             f"num_bins={num_bins!r}")
        output_mode = {"binary": "multi_hot"}.get(output_mode, output_mode)
        if output_mode not in _MODES:
            raise ValueError(f"Hashing: output_mode must be one of {_MODES}; received "
                             f"output_mode={output_mode!r}")
        if mask_value is not None and (isinstance(mask_value, bool) or not isinstance(
                mask_value, (str, bytes, int, np.integer))):
            raise ValueError(f"Hashing: mask_value must be None, a string or an int; "
                             f"received mask_value={mask_value!r}")
        key = _salt_key(salt)
        if sparse and output_mode == "int":
            raise ValueError("Hashing: sparse=True needs an encoded output_mode (one_hot, "
                             "multi_hot, count); received output_mode='int'")
        self.num_bins, self.output_mode, self.sparse = int(num_bins), output_mode, \
            bool(sparse)
        self.mask_value = mask_value.decode("utf-8") if isinstance(mask_value, bytes) else \
            mask_value
        self.salt = key

    def _hash(self, text, bins):
        if self.salt is None:
            return fingerprint64(text.encode("utf-8")) % bins
        return siphash24(self.salt[0], self.salt[1], text.encode("utf-8")) % bins

    def call(self, inputs):
        values, keys = _hash_keys(inputs, self.mask_value)
        # Keras 2 reserves bin 0 for the mask only when another bin is left (num_bins > 1)
        masked = self.mask_value is not None and self.num_bins > 1
        bins = self.num_bins - masked
        # each distinct string hashed once: a batch repeats its categories
        unique, inverse = np.unique(keys.reshape(-1), return_inverse=True)
        hashed = np.fromiter((self._hash(t, bins) for t in unique.tolist()), np.int64,
                             count=len(unique))[inverse].reshape(keys.shape)
        if masked:
            hashed = np.where(values == self.mask_value, 0, hashed + 1)
        if self.output_mode == "int":
            return hashed
        dense = lookup_encoding.encode(hashed, self.output_mode, self.num_bins, xp=np)
        return lookup_encoding.sparse_output("Hashing", dense) if self.sparse else dense

    def _elementwise(self):
        return self.output_mode == "int"

    def _takes_text(self):
        return None  # strings or integers

    def _output_dtype(self):
        return "int64" if self.output_mode == "int" else "float32"

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return input_shape
        shape = tuple(input_shape)
        if self.output_mode != "one_hot" or (shape and shape[-1] == 1):
            shape = shape[:-1]  # the encoded axis replaces the last one (Keras 2)
        return (*shape, self.num_bins)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt,
                "mask_value": self.mask_value, "output_mode": self.output_mode,
                "sparse": self.sparse}


def _hash_keys(inputs, mask_value):
    """(values to compare with mask_value, the strings to hash), as NumPy arrays: strings as
    themselves (bytes decoded as UTF-8), integers as their decimal strings (Keras 2's
    tf.as_string); mask_value must be of the inputs' kind."""
    host_strings.refuse_traced("Hashing", inputs, Hashing._traced_why)
    dtype = np.dtype(inputs.dtype) if hasattr(inputs, "dtype") else np.asarray(inputs).dtype
    kind = dtype.kind
    if kind in "iu":
        if mask_value is not None and not isinstance(mask_value, (int, np.integer)):
            raise TypeError(f"Hashing: integer inputs need an integer mask_value; received "
                            f"mask_value={mask_value!r}")
        values = np.asarray(jax.device_get(inputs))
        return values, values.astype(str)
    if kind in "fcb" or isinstance(inputs, jax.Array):
        raise TypeError(f"Hashing: inputs must be strings or integers; received dtype "
                        f"{dtype}")
    strings = host_strings.as_strings(inputs, "Hashing")
    if mask_value is not None and not isinstance(mask_value, str):
        raise TypeError(f"Hashing: string inputs need a string mask_value; received "
                        f"mask_value={mask_value!r}")
    return strings, strings
