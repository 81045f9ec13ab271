"""TF core's legacy Hash64 (a 64-bit MurmurHash2 variant, seed 0xDECAFCAFFE) in Python:
the hash of tf.strings.to_hash_bucket, which TF keeps for old graphs.

Eight-byte words are read little-endian and the tail bytes as unsigned, as TF's hash.cc
does on every platform; arithmetic is uint64 with wraparound (Python ints masked).
"""

from __future__ import annotations

_MASK = (1 << 64) - 1
_MULTIPLIER = 0xC6A4A7935BD1E995
_SHIFT = 47
SEED = 0xDECAFCAFFE  # TF's Hash64(data, n) default


def hash64(data, seed=SEED):
    """TF's Hash64 of `data` (bytes) under `seed`, an int in [0, 2**64)."""
    n = len(data)
    h = (seed ^ (n * _MULTIPLIER)) & _MASK
    whole = n - n % 8
    for i in range(0, whole, 8):
        k = int.from_bytes(data[i:i + 8], "little") * _MULTIPLIER & _MASK
        k ^= k >> _SHIFT
        k = k * _MULTIPLIER & _MASK
        h = (h ^ k) * _MULTIPLIER & _MASK
    if n > whole:  # the 1 to 7 remaining bytes, the first lowest
        h = (h ^ int.from_bytes(data[whole:], "little")) * _MULTIPLIER & _MASK
    h ^= h >> _SHIFT
    h = h * _MULTIPLIER & _MASK
    return h ^ (h >> _SHIFT)
