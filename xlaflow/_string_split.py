"""tf.strings' ops that cut each string into a row of pieces: split, bytes_split, the
unicode_split/unicode_decode family. A scalar gives a 1-D tensor, anything else TF's
RaggedTensor (_ragged_text.rows_of), on the host as all of xf.strings.

TF's strings are bytes; the unicode ops decode them with Python's codecs, where TF uses
ICU: the two agree on valid text and may differ in how many replacements malformed bytes
get (Python marks each malformed byte, ICU each maximal malformed subsequence).
"""

from __future__ import annotations

import codecs

import numpy as np

from xlaflow import _ragged_text as rtext
from xlaflow import _string_values as sv
from xlaflow.errors import InvalidArgumentError
from xlaflow.ragged_math import rebuild

_CODECS = {"UTF-8": "utf-8", "UTF-16-BE": "utf-16-be", "UTF-32-BE": "utf-32-be"}


def _text(op):
    return lambda value: sv.text_array(value, op)


def _strings(pieces):
    return sv.text_result(rtext.pieces_array(pieces))


def _numbers(dtype):
    return lambda pieces: sv.number_result(rtext.pieces_array(pieces, dtype), dtype)


def split(input, sep=None, maxsplit=-1, name=None):
    """Each string split on `sep` (None or "": runs of ASCII whitespace, no empty pieces;
    else every `sep`, empty pieces kept, as Python's bytes.split), at most `maxsplit` times
    (-1: no limit). A scalar gives a 1-D tensor; an N-D input a RaggedTensor of
    ragged_rank N (a RaggedTensor input: one more ragged dimension), as TF's."""
    sep = None if sep is None else sv.scalar_text(sep, "split", "sep") or None
    if isinstance(maxsplit, bool) or not isinstance(maxsplit, (int, np.integer)):
        raise TypeError(f"tf.strings.split: argument 'maxsplit' must be an int; received "
                        f"{maxsplit!r}")
    limit = int(maxsplit) if maxsplit > 0 else -1
    return rtext.rows_of("split", input, lambda data: data.split(sep, limit), _strings,
                         _text("split"))


def bytes_split(input, name=None):
    """Each string as a row of its single bytes."""
    return rtext.rows_of("bytes_split", input,
                         lambda data: [data[i:i + 1] for i in range(len(data))], _strings,
                         _text("bytes_split"))


def _codec(op, input_encoding, errors, replacement_char):
    codec = _CODECS.get(str(input_encoding).upper())
    if codec is None:
        raise ValueError(f"tf.strings.{op}: argument 'input_encoding' must be UTF-8, "
                         f"UTF-16-BE or UTF-32-BE; received {input_encoding!r}")
    if errors not in ("strict", "replace", "ignore"):
        raise ValueError(f"tf.strings.{op}: argument 'errors' must be 'strict', 'replace' "
                         f"or 'ignore'; received {errors!r}")
    if isinstance(replacement_char, bool) or not isinstance(
            replacement_char, (int, np.integer)) or not 0 <= replacement_char <= 0x10FFFF:
        raise ValueError(f"tf.strings.{op}: argument 'replacement_char' must be a code point "
                         f"(an int in [0, 0x10FFFF]); received {replacement_char!r}")
    return codec


def _mark_bytes(error):
    """Each malformed byte as one lone surrogate U+DC80: no codec decodes valid text to a
    lone surrogate, so the marks are never confused with the text's own characters."""
    return "\udc80" * (error.end - error.start), error.end


codecs.register_error("xlaflow.mark_bytes", _mark_bytes)


def _decode(data, op, input_encoding, codec, errors, replacement_char, controls=False):
    """[(code point, byte offset)] of one string, malformed bytes as `errors` says."""
    out, offset = [], 0
    for c in data.decode(codec, "xlaflow.mark_bytes"):
        if c == "\udc80":
            if errors == "strict":
                raise InvalidArgumentError(None, None, f"tf.strings.{op}: invalid "
                                           f"{input_encoding} text {data!r:.80}")
            if errors == "replace":
                out.append((replacement_char, offset))
            offset += 1
            continue
        point = ord(c)
        if controls and point < 0x20:  # TF's replace_control_characters: C0 controls
            point = replacement_char
        out.append((point, offset))
        offset += len(c.encode(codec))
    return out


def unicode_decode(input, input_encoding, errors="replace", replacement_char=65533,
                   replace_control_characters=False, name=None):
    """Each string's code points (int32), decoded from `input_encoding` (UTF-8, UTF-16-BE,
    UTF-32-BE). errors="strict" raises on malformed text, "replace" puts
    `replacement_char` there, "ignore" drops it; replace_control_characters replaces
    U+0000..U+001F too. A scalar gives a 1-D tensor, else a RaggedTensor (TF's)."""
    op = "unicode_decode"
    codec = _codec(op, input_encoding, errors, replacement_char)
    return rtext.rows_of(op, input, lambda data: [p for p, _ in _decode(
        data, op, input_encoding, codec, errors, replacement_char,
        replace_control_characters)], _numbers(np.int32), _text(op))


def unicode_decode_with_offsets(input, input_encoding, errors="replace",
                                replacement_char=65533, replace_control_characters=False,
                                name=None):
    """(code points, start offsets): unicode_decode and, for each character, the byte
    offset in its string where it starts (int64), as TF's."""
    op = "unicode_decode_with_offsets"
    codec = _codec(op, input_encoding, errors, replacement_char)
    pairs = rtext.rows_of(op, input, lambda data: _decode(
        data, op, input_encoding, codec, errors, replacement_char,
        replace_control_characters), _pairs, _text(op))
    return _unzip(pairs)


def unicode_split(input, input_encoding, errors="replace", replacement_char=65533,
                  name=None):
    """Each string as a row of its characters, each encoded in `input_encoding` (UTF-8,
    UTF-16-BE, UTF-32-BE); malformed text as unicode_decode's `errors` says. A scalar
    gives a 1-D tensor, else a RaggedTensor (TF's)."""
    op = "unicode_split"
    codec = _codec(op, input_encoding, errors, replacement_char)
    return rtext.rows_of(op, input, lambda data: [chr(p).encode(codec, "surrogatepass")
                                                   for p, _ in _decode(
        data, op, input_encoding, codec, errors, replacement_char)], _strings, _text(op))


def unicode_split_with_offsets(input, input_encoding, errors="replace",
                               replacement_char=65533, name=None):
    """(characters, start offsets): unicode_split and each character's byte offset."""
    encode = _encoder(_codec("unicode_split_with_offsets", input_encoding, errors,
                             replacement_char))
    points, starts = unicode_decode_with_offsets(input, input_encoding, errors,
                                                 replacement_char)
    if rtext.is_ragged(points):
        return rebuild(points, encode(points.flat_values)), starts
    return encode(points), starts


def _encoder(codec):
    def encode(points):
        return _strings([chr(p).encode(codec, "surrogatepass")
                         for p in np.asarray(points).tolist()])
    return encode


def _pairs(pieces):
    """(code point, offset) pairs as one host array of shape [n, 2], split by _unzip."""
    out = np.zeros((len(pieces), 2), np.int64)
    if pieces:
        out[:] = pieces
    return out


def _unzip(pairs):
    def points(a):
        return sv.number_result(np.asarray(a)[:, 0], np.int32)

    def starts(a):
        return sv.number_result(np.asarray(a)[:, 1], np.int64)

    if rtext.is_ragged(pairs):
        return rebuild(pairs, points(pairs.flat_values)), \
            rebuild(pairs, starts(pairs.flat_values))
    return points(pairs), starts(pairs)
