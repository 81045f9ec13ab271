"""tf.strings on the host: TF 2.12's string ops in NumPy and Python, on eager text values.

XLA holds no strings, so these run where xlaflow's text lives: eagerly, in a Dataset.map
function, in a TextVectorization `standardize=` callable. They take str, bytes, nested lists,
NumPy str/bytes/object arrays and xf.constant's host text values, and give text as
xf.constant does (`.numpy()` is bytes, as TF's); numbers come back as NumPy-backed tensors
of TF's dtype. TF's strings are bytes: "BYTE" units count UTF-8 bytes, "UTF8_CHAR" units
characters. Inside xf.function (a traced argument) each op raises a TypeError saying so.
Ops that cut strings into rows (split, unicode_split, ngrams: _string_split.py,
_string_ngrams.py) give TF's RaggedTensor; the element-wise ops map over a RaggedTensor's
flat values and keep its rows (TF's map_flat_values dispatch). The hash buckets are TF's:
to_hash_bucket_fast uses FarmHash's Fingerprint64 (_farmhash.py), to_hash_bucket_strong
SipHash-2-4 (_siphash.py), to_hash_bucket TF's legacy Hash64 (_murmur64.py).
"""

from __future__ import annotations

import itertools

import numpy as np

from xlaflow import _ragged_text as rtext
from xlaflow import _string_numbers, _string_regex
from xlaflow import _string_values as sv
from xlaflow._farmhash import fingerprint64
from xlaflow._murmur64 import hash64
from xlaflow._siphash import siphash24
from xlaflow._string_ngrams import ngrams
from xlaflow._string_numbers import format
from xlaflow._string_split import (
    bytes_split,
    split,
    unicode_decode,
    unicode_decode_with_offsets,
    unicode_split,
    unicode_split_with_offsets,
)
from xlaflow.errors import InvalidArgumentError

__all__ = ["as_string", "bytes_split", "format", "join", "length", "lower", "ngrams",
           "reduce_join", "regex_full_match", "regex_replace", "split", "strip", "substr",
           "to_hash_bucket", "to_hash_bucket_fast", "to_hash_bucket_strong", "to_number",
           "unicode_decode", "unicode_decode_with_offsets", "unicode_split",
           "unicode_split_with_offsets", "upper"]

_UNITS = ("BYTE", "UTF8_CHAR")
_MASK64 = (1 << 64) - 1

# numbers <-> text, element-wise: a RaggedTensor keeps its rows
as_string = rtext.elementwise(_string_numbers.as_string)
to_number = rtext.elementwise(_string_numbers.to_number)


def _case(input, encoding, op, ascii_fn, text_fn):
    array = sv.text_array(input, op)
    if encoding not in ("", "utf-8"):
        raise InvalidArgumentError(None, None, f"tf.strings.{op}: only utf-8 or '' (no "
                                   f"encoding) is supported, received {encoding}")
    if encoding == "":  # TF's default: ASCII letters only, byte by byte (C's tolower)
        return sv.text_result(sv.elementwise(ascii_fn, array))
    return sv.text_result(sv.elementwise(
        lambda b: text_fn(b.decode("utf-8", "replace")).encode("utf-8"), array))


@rtext.elementwise
def lower(input, encoding="", name=None):
    """Lowercase: ASCII letters with encoding="" (TF's default), all of Unicode with
    encoding="utf-8" (TF uses ICU there; Python's str.lower is the same Unicode mapping)."""
    return _case(input, encoding, "lower", bytes.lower, str.lower)


@rtext.elementwise
def upper(input, encoding="", name=None):
    """Uppercase: ASCII letters with encoding="" (TF's default), all of Unicode with
    encoding="utf-8"."""
    return _case(input, encoding, "upper", bytes.upper, str.upper)


@rtext.elementwise
def strip(input, name=None):
    """Leading and trailing ASCII whitespace removed (" \\t\\n\\v\\f\\r", as TF's)."""
    return sv.text_result(sv.elementwise(bytes.strip, sv.text_array(input, "strip")))


def _unit(unit, op):
    if unit not in _UNITS:
        raise ValueError(f"tf.strings.{op}: argument 'unit' must be 'BYTE' or 'UTF8_CHAR'; "
                         f"received {unit!r}")
    return unit


def _char_starts(data):
    # TF counts UTF-8 characters as the bytes that do not continue one (not 10xxxxxx), so
    # text that is not valid UTF-8 still has a length and positions, as there.
    return [i for i, byte in enumerate(data) if byte & 0xC0 != 0x80]


@rtext.elementwise
def length(input, unit="BYTE", name=None):
    """Each string's length (int32) in bytes, or in UTF-8 characters with unit="UTF8_CHAR"."""
    count = len if _unit(unit, "length") == "BYTE" else (lambda b: len(_char_starts(b)))
    array = sv.text_array(input, "length")
    out = np.zeros(array.shape, dtype=np.int32)
    for index, value in np.ndenumerate(array):
        out[index] = count(value)
    return sv.number_result(out, np.int32)


@rtext.elementwise
def substr(input, pos, len, unit="BYTE", name=None):
    """`len` bytes (or characters) of each string from `pos` (negative: from the end; a
    `len` past the end or negative takes the rest). `pos` and `len` broadcast against
    `input`; a `pos` beyond either end is TF's InvalidArgumentError."""
    unit = _unit(unit, "substr")
    array = sv.text_array(input, "substr")
    for arg, value in (("pos", pos), ("len", len)):
        sv.refuse_traced(value, "substr", arg)
        if np.asarray(value).dtype.kind not in "iu":
            raise TypeError(f"tf.strings.substr: argument '{arg}' must be integers; received "
                            f"{np.asarray(value).dtype} {value!r:.40}")
    try:
        array, pos, size = np.broadcast_arrays(array, np.asarray(pos), np.asarray(len))
    except ValueError:
        raise ValueError(f"tf.strings.substr: 'pos' (shape {np.shape(pos)}) and 'len' "
                         f"(shape {np.shape(len)}) must broadcast against 'input' (shape "
                         f"{array.shape})") from None
    out = np.empty(array.shape, dtype=object)
    for index, data in np.ndenumerate(array):
        out[index] = _substring(data, int(pos[index]), int(size[index]), unit, index)
    return sv.text_result(out)


def _substring(data, pos, size, unit, index):
    starts = list(range(len(data) + 1)) if unit == "BYTE" else [*_char_starts(data), len(data)]
    n = len(starts) - 1
    if abs(pos) > n:
        raise InvalidArgumentError(None, None, f"tf.strings.substr: pos {pos} out of range "
                                   f"for string {data!r} (length {n}) at index {index}")
    pos = pos + n if pos < 0 else pos
    end = n if size < 0 else min(n, pos + size)
    return data[starts[pos]:starts[end]]


def join(inputs, separator="", name=None):
    """Elementwise concatenation of the tensors in `inputs` with `separator` between them;
    each input has the same shape or is a scalar (TF broadcasts scalars only)."""
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError("tf.strings.join: argument 'inputs' must be a non-empty list of "
                         f"string tensors; received {inputs!r:.60}")
    if any(rtext.is_ragged(x) for x in inputs):
        return _join_ragged(inputs, separator)
    arrays = [sv.text_array(x, "join", f"inputs[{i}]") for i, x in enumerate(inputs)]
    sep = sv.scalar_text(separator, "join", "separator")
    shapes = {a.shape for a in arrays if a.ndim}
    if len(shapes) > 1:
        first, second = sorted(shapes, key=str)[:2]
        raise InvalidArgumentError(None, None, f"tf.strings.join: input shapes do not match: "
                                   f"{list(first)} vs. {list(second)}; give tensors of one "
                                   "shape, or scalars")
    shape = shapes.pop() if shapes else ()
    arrays = [np.broadcast_to(a, shape) for a in arrays]
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = sep.join(a[index] for a in arrays)
    return sv.text_result(out)


def _join_ragged(inputs, separator):
    """join of RaggedTensors sharing one row partition (and scalar strings): their flat
    values joined, the rows kept."""
    from xlaflow.ragged_math import rebuild, same_partition

    ragged = [x for x in inputs if rtext.is_ragged(x)]
    for other in ragged[1:]:
        same_partition(ragged[0], other, "strings.join")
    for i, x in enumerate(inputs):
        if not rtext.is_ragged(x) and sv.text_array(x, "join", f"inputs[{i}]").ndim:
            raise ValueError(f"tf.strings.join: inputs[{i}] is a dense tensor of shape "
                             f"{np.shape(x)} among RaggedTensors; give RaggedTensors of one "
                             "row partition, or scalars")
    flat = [x.flat_values if rtext.is_ragged(x) else x for x in inputs]
    return rebuild(ragged[0], join(flat, separator))


def reduce_join(inputs, axis=None, keepdims=False, separator="", name=None):
    """The strings joined with `separator` along `axis` (an int, a list, or None: all axes),
    in row-major order, as np.sum would reduce numbers. A RaggedTensor joins each row
    (axis=-1) or everything (axis=None)."""
    if rtext.is_ragged(inputs):
        return _reduce_join_rows(inputs, axis, keepdims, separator)
    array = sv.text_array(inputs, "reduce_join", "inputs")
    sep = sv.scalar_text(separator, "reduce_join", "separator")
    rank = array.ndim
    axes = range(rank) if axis is None else np.atleast_1d(np.asarray(axis)).tolist()
    normalized = []
    for a in axes:
        if not isinstance(a, int) or not -rank <= a < max(rank, 1):
            raise InvalidArgumentError(None, None, f"tf.strings.reduce_join: invalid reduction "
                                       f"dimension {a!r} for input with {rank} dimensions")
        normalized.append(a % rank if rank else 0)
    axes = sorted(set(normalized)) if rank else []
    kept = [d for d in range(rank) if d not in axes]
    moved = array.transpose(kept + axes)
    reduced = int(np.prod([array.shape[d] for d in axes])) if rank else 1
    rows = moved.reshape([array.shape[d] for d in kept] + [reduced])  # -1 fails on size 0
    out = np.empty(rows.shape[:-1], dtype=object)
    for index in np.ndindex(*out.shape):
        out[index] = sep.join(rows[index])
    if keepdims:
        out = out.reshape([1 if d in axes else array.shape[d] for d in range(rank)])
    return sv.text_result(out)


def _reduce_join_rows(rt, axis, keepdims, separator):
    sep = sv.scalar_text(separator, "reduce_join", "separator")
    flat = sv.text_array(rt.flat_values, "reduce_join", "inputs")
    if axis is None:
        return reduce_join(flat, None, keepdims, separator) if flat.ndim == 1 and \
            not keepdims else _ragged_axis_error(rt, axis)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or \
            axis not in (-1, rt.ndim - 1) or flat.ndim != 1:
        _ragged_axis_error(rt, axis)

    def join_rows(level):
        if rtext.is_ragged(level.values):
            return level.with_values(join_rows(level.values))
        s = np.asarray(level.row_splits).tolist()
        rows = flat.tolist()
        out = rtext.pieces_array([sep.join(rows[a:b]) for a, b in itertools.pairwise(s)])
        return sv.text_result(out.reshape(-1, 1) if keepdims else out)

    return join_rows(rt)


def _ragged_axis_error(rt, axis):
    raise NotImplementedError(
        f"tf.strings.reduce_join of a RaggedTensor (rank {rt.ndim}, flat values of rank "
        f"{np.ndim(rt.flat_values)}) along axis={axis!r}: xlaflow joins along the last axis "
        "(axis=-1, each row) or all of it (axis=None, keepdims=False); for other axes join "
        "the rows of rt.to_list() in Python")


def _regex_argument(value, op, what):
    # TF's regex kernels take one pattern (and rewrite) for all strings: a tensor of them is
    # their InvalidArgumentError, not a broadcast
    array = sv.text_array(value, op, what.lower())
    if array.ndim:
        raise InvalidArgumentError(None, None, f"tf.strings.{op}: {what} must be scalar, but "
                                   f"received {list(array.shape)}")
    return array[()]


@rtext.elementwise
def regex_replace(input, pattern, rewrite, replace_global=True, name=None):
    """Matches of the RE2 `pattern` replaced by `rewrite` (`\\1` names a group, `\\0` the
    match); only the first with replace_global=False. See _string_regex for how RE2's
    syntax maps onto Python's re."""
    array = sv.text_array(input, "regex_replace")
    source = _regex_argument(pattern, "regex_replace", "Pattern")
    regex = _string_regex.compile_re2(source)
    pieces = _string_regex.parse_rewrite(
        _regex_argument(rewrite, "regex_replace", "Rewrite"), regex.groups, source)
    fast = _string_regex.replacer(regex, pieces) if replace_global else None
    return sv.text_result(sv.elementwise(
        fast or (lambda b: _string_regex.replace(b, regex, pieces, bool(replace_global))),
        array))


@rtext.elementwise
def regex_full_match(input, pattern, name=None):
    """Whether each whole string matches the RE2 `pattern` (bool)."""
    array = sv.text_array(input, "regex_full_match")
    regex = _string_regex.compile_re2(_regex_argument(pattern, "regex_full_match", "Pattern"))
    out = np.zeros(array.shape, dtype=bool)
    for index, value in np.ndenumerate(array):
        out[index] = _string_regex.full_match(value, regex)
    return sv.number_result(out, bool)


def _buckets(input, num_buckets, op, hash_fn):
    """`hash_fn(bytes) % num_buckets` of each string, as an int64 host tensor."""
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, (int, np.integer)) \
            or num_buckets < 1:
        raise ValueError(f"tf.strings.{op}: argument 'num_buckets' must be a positive int; "
                         f"received {num_buckets!r}")
    array = sv.text_array(input, op)
    out = np.zeros(array.shape, dtype=np.int64)
    for index, value in np.ndenumerate(array):
        out[index] = hash_fn(value) % int(num_buckets)
    return sv.number_result(out, np.int64)


@rtext.elementwise
def to_hash_bucket_fast(input, num_buckets, name=None):
    """Each string's bucket (int64) in [0, num_buckets): FarmHash Fingerprint64 modulo
    `num_buckets`, TF's, so the buckets are TF's (and Keras' Hashing layer's)."""
    return _buckets(input, num_buckets, "to_hash_bucket_fast", fingerprint64)


@rtext.elementwise
def to_hash_bucket_strong(input, num_buckets, key, name=None):
    """Each string's bucket (int64) in [0, num_buckets): SipHash-2-4 keyed by `key` (two
    uint64 ints, TF's layout) modulo `num_buckets`, so the buckets are TF's."""
    op = "to_hash_bucket_strong"
    words = list(key) if isinstance(key, (list, tuple, np.ndarray)) else None
    if words is None or any(isinstance(k, bool) or not isinstance(k, (int, np.integer))
                            for k in words):
        raise TypeError(f"tf.strings.{op}: argument 'key' must be a list of two ints (uint64 "
                        f"words); received {key!r}")
    if len(words) != 2:  # TF's kernel: "Key must have 2 elements"
        raise InvalidArgumentError(None, None, f"tf.strings.{op}: Key must have 2 elements; "
                                               f"received {len(words)}: {list(words)}")
    low, high = -(1 << 63), 1 << 64  # TF's attr is int64; a uint64 word is taken as written
    if any(not low <= int(k) < high for k in words):
        raise ValueError(f"tf.strings.{op}: argument 'key' holds {list(words)}; each word "
                         f"must fit 64 bits (in [-2**63, 2**64))")
    key0, key1 = (int(k) & _MASK64 for k in words)  # an int64 -1 is the uint64 2**64 - 1
    return _buckets(input, num_buckets, op, lambda data: siphash24(key0, key1, data))


@rtext.elementwise
def to_hash_bucket(input, num_buckets, name=None):
    """Each string's bucket (int64) in [0, num_buckets): TF core's legacy Hash64 modulo
    `num_buckets` (TF deprecates it for to_hash_bucket_fast, but old code still calls it)."""
    return _buckets(input, num_buckets, "to_hash_bucket", hash64)
