"""Numbers to text and back as TF's kernels do it: to_number (safe_strto32/64, safe_strtof/d),
as_string (a printf format built from the arguments) and format (tensor summaries).

Separate from strings.py because these follow TF's C++ number parsing and printing rules,
which differ from Python's float()/int() (no "+5" for ints, no "1_000", no "infinity").
"""

from __future__ import annotations

import itertools
import re

import numpy as np

from xlaflow import _string_values as sv
from xlaflow.errors import InvalidArgumentError
from xlaflow.ragged_tensor import RaggedTensor

_SPACE = b" \t\n\v\f\r"  # C's isspace: what TF's parsers skip around a number
_INT = re.compile(rb"-?[0-9]+")
_FLOAT = re.compile(rb"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|nan"
                    rb"|0[xX][0-9a-fA-F]+)", re.IGNORECASE)
_LIMITS = {np.dtype(np.int32): (-2**31, 2**31 - 1), np.dtype(np.int64): (-2**63, 2**63 - 1)}


def _number(s, dtype):
    """One string as TF's StringToNumber reads it; None where TF refuses it."""
    body = s.strip(_SPACE)
    if dtype.kind == "i":
        if not _INT.fullmatch(body):  # safe_strto32/64: digits, an optional '-', no '+'
            return None
        value = int(body)
        low, high = _LIMITS[dtype]
        return value if low <= value <= high else None
    # safe_strtof/d: double-conversion with hex integers, inf and nan in any case, and at
    # most 31 characters in all (kFastToBufferSize)
    if len(s) >= 32 or not _FLOAT.fullmatch(body):
        return None
    text = body.decode("ascii")
    if "x" in text.lower():
        return float(int(text, 16))
    return float(text)


def to_number(string_tensor, out_type=np.float32, name=None):
    """Each string parsed as a number of `out_type` (float32, float64, int32, int64), with
    TF's InvalidArgumentError naming the first string that is not one."""
    array = sv.text_array(string_tensor, "to_number", "string_tensor")
    dtype = _numeric_dtype(out_type)
    out = np.empty(array.shape, dtype=dtype)
    for index, s in np.ndenumerate(array):
        value = _number(s, dtype)
        if value is None:
            raise InvalidArgumentError(None, None, "StringToNumberOp could not correctly "
                                       f"convert string: {s.decode('utf-8', 'replace')}")
        with np.errstate(over="ignore"):  # 1e40 as float32 is inf, as TF's strtof gives
            out[index] = dtype.type(value)
    return sv.number_result(out, dtype)


def _numeric_dtype(out_type):
    try:
        dtype = np.dtype(out_type)
    except TypeError:
        try:
            dtype = np.dtype(out_type.dtype)  # a dtype object that is not NumPy's
        except (AttributeError, TypeError):
            dtype = None
    if dtype not in (np.float32, np.float64, np.int32, np.int64):
        raise TypeError(f"tf.strings.to_number: argument 'out_type' must be float32, float64, "
                        f"int32 or int64; received {out_type!r}")
    return dtype


def as_string(input, precision=-1, scientific=False, shortest=False, width=-1, fill="",
              name=None):
    """Each number as text with the printf format TF builds from the arguments: `%{fill}
    {width}.{precision}` then d (integers), e (scientific), g (shortest) or f (floats)."""
    sv.refuse_traced(input, "as_string", "input")
    array = np.asarray(input)
    kind = array.dtype.kind
    if kind not in "biufc":
        raise TypeError(f"tf.strings.as_string: argument 'input' must be numbers or bools; "
                        f"received {array.dtype} {input!r:.60}")
    fill = fill.decode() if isinstance(fill, bytes) else fill
    if len(fill) > 1:
        raise InvalidArgumentError(None, None, f"Fill string must be one or fewer characters: "
                                   f"{fill}")
    if fill and fill not in " +-0#":
        raise InvalidArgumentError(None, None, f'Fill argument not supported: "{fill}"')
    if scientific and shortest:
        raise InvalidArgumentError(None, None,
                                   "Cannot select both scientific and shortest notation")
    if (scientific or shortest) and kind not in "fc":  # TF checks this one first
        raise InvalidArgumentError(None, None, "scientific and shortest format not "
                                   f"supported for datatype {array.dtype}")
    if precision > -1 and kind not in "fc":
        raise InvalidArgumentError(None, None,
                                   f"precision not supported for datatype {array.dtype}")
    if kind == "b":
        if fill or width > -1:
            raise InvalidArgumentError(None, None, "width and fill not supported for bool")
        return sv.text_result(sv.elementwise(lambda v: b"true" if v else b"false", array))
    spec = "%" + fill + (str(width) if width > -1 else "")
    spec += f".{precision}" if precision > -1 else ""
    if kind in "iu":
        return sv.text_result(sv.elementwise(lambda v: ((spec + "d") % int(v)).encode(),
                                             array))
    spec += "g" if shortest else "e" if scientific else "f"
    if kind == "c":
        return sv.text_result(sv.elementwise(
            lambda v: f"({spec % v.real},{spec % v.imag})".encode(), array))
    return sv.text_result(sv.elementwise(lambda v: (spec % float(v)).encode(), array))


_ESCAPES = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord('"'): '\\"',
            ord("'"): "\\'", ord("\\"): "\\\\"}


def _c_escape(data):
    """absl::Utf8SafeCEscape: C escapes for quotes, backslash and control bytes; bytes of
    0x80 and up stay as they are (kept through a surrogate escape until the end)."""
    out = []
    for byte in data:
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif byte < 0x20 or byte == 0x7F:
            out.append(f"\\{byte:03o}")
        else:
            out.append(bytes([byte]).decode("utf-8", "surrogateescape"))
    return "".join(out)


def _element(value):
    """One element as TF's print_v2 summary writes it: strings quoted and C-escaped, bools
    as 1/0, floats in the fewest of 6 (or 15) and 9 (or 17) digits that read back exactly."""
    if isinstance(value, bytes):
        return '"' + _c_escape(value) + '"'
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, np.floating):
        digits, more = (6, 9) if value.dtype.itemsize <= 4 else (15, 17)
        text = f"{value:.{digits}g}"
        if np.isfinite(value) and value.dtype.type(text) != value:
            text = f"{value:.{more}g}"
        return text
    return str(value)


def _summary(array, limit, indent=1):
    """`array` as TF's Tensor::SummarizeValue(limit, print_v2=True) writes it: `limit`
    leading and trailing entries of each dimension around a "...", rows on new lines."""
    if array.ndim == 0:
        return _element(array[()]) if limit > 0 else "..."
    n = array.shape[0]
    rows = list(range(n)) if n <= 2 * limit else \
        [*range(limit), None, *range(max(limit, n - limit), n)]
    if array.ndim == 1:
        return "[" + " ".join("..." if i is None else _element(array[i]) for i in rows) + "]"
    sep = "\n" * (array.ndim - 1) + " " * indent
    inner = ["..." if i is None else _summary(array[i], limit, indent + 1) for i in rows]
    return "[" + sep.join(inner) + "]"


def format(template, inputs, placeholder="{}", summarize=3, name=None):
    """`template` with each `placeholder` replaced by the next input's summary: at most
    `summarize` leading and trailing entries per dimension (-1: all), as TF's."""
    template = sv.scalar_text(template, "format", "template").decode("utf-8", "surrogateescape")
    placeholder = sv.scalar_text(placeholder, "format", "placeholder").decode(
        "utf-8", "surrogateescape")
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    parts = template.split(placeholder)
    if len(parts) - 1 != len(inputs):
        raise InvalidArgumentError(None, None, f"num placeholders in template and num inputs "
                                   f"must match: {len(parts) - 1} vs. {len(inputs)}")
    texts = []
    for i, value in enumerate(inputs):
        if isinstance(value, RaggedTensor):
            texts.append(_ragged_text(value, summarize, i))
            continue
        sv.refuse_traced(value, "format", f"inputs[{i}]")
        array = np.asarray(value)
        if array.dtype.kind in "USO":
            array = sv.text_array(value, "format", f"inputs[{i}]")
        elif array.dtype.kind not in "biufc":
            raise TypeError(f"tf.strings.format: inputs[{i}] has dtype {array.dtype}; "
                            "expected numbers, bools or strings")
        elif array.dtype.kind == "f" and array.dtype.itemsize < 4:
            array = array.astype(np.float32)  # half prints through float, as TF's
        limit = array.size if summarize < 0 else min(summarize, array.size)
        texts.append(_summary(array, limit))
    out = parts[0] + "".join(t + p for t, p in zip(texts, parts[1:], strict=True))
    result = np.empty((), dtype=object)
    result[()] = out.encode("utf-8", "surrogateescape")
    return sv.text_result(result)


def _ragged_text(rt, summarize, i):
    """A RaggedTensor as TF's ragged_tensor_to_string writes it in strings.format: nested
    brackets joined by ", ", numbers as tf.strings.as_string writes them, strings in single
    quotes (' and \\ escaped), each dimension cut to `summarize` leading and trailing
    entries around "..." (None or -1: all)."""
    if summarize is not None and summarize != -1 and not (
            isinstance(summarize, int) and summarize > 0):
        raise ValueError(f"Expected summarize to be -1 or a positive int, got {summarize!r}")
    sv.refuse_traced(rt.flat_values, "format", f"inputs[{i}]")
    flat = np.asarray(rt.flat_values)
    if flat.dtype.kind in "USO":
        flat = sv.text_array(flat, "format", f"inputs[{i}]")
        words = sv.elementwise(lambda v: "'" + re.sub(r"(['\\])", r"\\\1", _str(v)) + "'",
                               flat)
    else:
        words = sv.elementwise(_str, np.asarray(as_string(flat), object))

    def joined(pieces):
        if summarize not in (None, -1) and len(pieces) > 2 * summarize:
            pieces = [*pieces[:summarize], "...", *pieces[-summarize:]]
        return "[" + ", ".join(pieces) + "]"

    def dense(value):  # one flat value, with its uniform inner dimensions
        return value if np.ndim(value) == 0 else joined([dense(row) for row in value])

    pieces = [dense(row) for row in words]
    for splits in reversed(rt.nested_row_splits):
        pieces = [joined(pieces[start:end])
                  for start, end in itertools.pairwise(np.asarray(splits).tolist())]
    return joined(pieces)


def _str(value):
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
