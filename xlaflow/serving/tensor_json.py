"""Shared JSON <-> numpy tensor layer of the REST codecs: dtypes, shapes, TF's messages.
Used by both rest_codec (TF Serving) and v2_codec (KServe v2), so it lives apart from either."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math

import numpy as np

try:  # orjson (the serving extra) parses numbers several times faster than json
    import orjson as _orjson
except ImportError:  # pragma: no cover - the stdlib parser gives the same results
    _orjson = None

from xlaflow.serving.errors import ServingError

# Signature dtype names that mean "string/bytes tensor" (numpy arrays of dtype object).
STRING_DTYPES = frozenset({"string", "str", "bytes", "object", "bytes_", "str_"})
_MAX_RANK = 64  # numpy's limit; deeper JSON nesting cannot be a tensor anyway

# Python's json messages -> the RapidJSON wording TF Serving reports (clients grep these).
_REASONS = (
    ("Expecting value", "Invalid value."),
    ("Extra data", "The document root must not be followed by other values."),
    ("Expecting property name", "Missing a name for object member."),
    ("Expecting ':'", "Missing a colon after a name of object member."),
    ("Expecting ','", "Missing a comma or ']' / '}' after an array element / object member."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid \\u", "Incorrect hex digit after \\u escape in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
    ("Invalid control character", "Invalid encoding in string."),
)
_JSON_TYPES = {type(None): "Null", dict: "Object", list: "Array", str: "String"}
_TF_TYPE = {"float32": "float", "float64": "double", "float16": "half", "object": "string"}
# Exact powers of ten (10**22 is the largest exact double) for correctly rounded scaling.
_POW10 = np.array([float(10 ** i) for i in range(23)])
_FLOAT_DIGITS = {"float32": 9, "float16": 5, "bfloat16": 4}  # max_digits10


def _bad(message):
    return ServingError("INVALID_ARGUMENT", message)


# -- signature dtypes and shapes ---------------------------------------------------------------
def np_dtype(name) -> np.dtype:
    """The numpy dtype for a signature dtype name; string tensors are object arrays of bytes."""
    if isinstance(name, np.dtype):
        return name
    if name in STRING_DTYPES:
        return np.dtype(object)
    try:
        return np.dtype(name)
    except TypeError:  # bfloat16 & co. live in ml_dtypes (a jax dependency), loaded on need
        import ml_dtypes
        return np.dtype(getattr(ml_dtypes, name))


def tensor_specs(signature: dict, key: str) -> list:
    """[(name, dtype name, shape or None)] of a signature's "inputs" or "outputs"."""
    specs = signature.get(key) or []
    if isinstance(specs, dict):  # {name: {"dtype", "shape"}} is accepted as well
        specs = [dict(spec, name=name) for name, spec in specs.items()]
    return [(s["name"], str(s["dtype"]), None if s.get("shape") is None else list(s["shape"]))
            for s in specs]


def check_shape(name: str, array: np.ndarray, shape) -> None:
    """INVALID_ARGUMENT unless `array` fits the signature shape (None dims match anything)."""
    if shape is None:
        return
    if array.ndim != len(shape) or any(d is not None and d >= 0 and d != n
                                       for d, n in zip(shape, array.shape)):
        raise _bad(f"input '{name}' has shape {_dims(array.shape)}, but the signature "
                   f"expects {_dims(shape)}")


# -- JSON <-> array ----------------------------------------------------------------------------


def array_from_json(value, dtype, maybe_bools: bool = True) -> np.ndarray:
    """A JSON value (nested lists of scalars) as an array of `dtype`, with TF's 400 messages.

    `maybe_bools=False` promises the document holds no true/false, which skips a type scan."""
    dt = np_dtype(dtype)
    if not (dt.kind == "O" or dt.kind in "biu" or _is_float(dt)):
        raise ServingError("UNIMPLEMENTED", f"Conversion of JSON values to type: {dt.name}")
    array = _fast(value, dt, maybe_bools)
    return array if array is not None else _slow(value, dt)


_ORJSON_DTYPES = frozenset(np.dtype(t) for t in (
    np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
    np.uint32, np.uint64, np.bool_))


def dumps_arrays(payload, arrays):
    """`payload` (dicts and lists holding `arrays`, their rows or elements) as JSON bytes
    via orjson, or None.

    orjson writes float32 and float64 as their shortest round-tripping decimals, as
    `array_to_json` does, ~10x faster; it writes NaN and Infinity as null, so arrays with
    non-finite values (or dtypes it does not take) go the `array_to_json` way."""
    if _orjson is None:
        return None
    for array in arrays:
        if array.dtype not in _ORJSON_DTYPES or not array.flags.c_contiguous or \
                array.ndim == 0 or (array.dtype.kind == "f" and not np.isfinite(array).all()):
            return None
    return _orjson.dumps(payload, option=_orjson.OPT_SERIALIZE_NUMPY)


def array_to_json(array, b64: bool = False):
    """Nested Python lists ready for json.dumps; floats print as their dtype's shortest repr.

    (float32 -> float64 -> repr adds noise, 0.1 -> 0.10000000149..., hence `_shortest`.)"""
    array = np.asarray(array)
    dt = array.dtype
    if _is_float(dt) and dt != np.float64:
        return _shortest(array).tolist()
    if dt.kind in "biuf":
        return array.tolist()
    if dt.kind in "OSU":
        flat = np.empty(array.size, dtype=object)
        flat[:] = [_string_json(v, b64) for v in array.reshape(-1).tolist()]
        return flat.reshape(array.shape).tolist()
    raise _bad(f"Failed to write JSON value for tensor type: {dt.name}")


def load_json(body: bytes):
    """json.loads with TF's `JSON Parse error: <reason> at offset: <n>` messages."""
    if not body:
        raise _bad("JSON Parse error: The document is empty")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"JSON Parse error: Invalid encoding in string. at offset: {exc.start}") \
            from None
    if _orjson is not None:
        try:  # the fast path; strict JSON only, so NaN/Infinity tokens fall through
            return _orjson.loads(body)
        except (_orjson.JSONDecodeError, TypeError):
            pass
    try:
        return json.loads(text, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        reason = next((r for p, r in _REASONS if exc.msg.startswith(p)), exc.msg)
        if not text.strip():
            reason = "The document is empty."
        offset = len(text[:exc.pos].encode())  # RapidJSON counts bytes, Python characters
        raise _bad(f"JSON Parse error: {reason} at offset: {offset}") from None
    except (ValueError, RecursionError) as exc:  # int too long, nesting too deep
        raise _bad(f"JSON Parse error: {exc}") from None


def _finite_float(text):
    """A JSON number; one beyond a double's range (1e400) is an error, as in RapidJSON,
    not infinity: only the NaN/Infinity tokens make non-finite values."""
    value = float(text)
    if math.isinf(value):
        raise ValueError("Number too big to be stored in double.")
    return value


# -- JSON -> array internals -------------------------------------------------------------------


def _is_b64(value):
    return type(value) is dict and len(value) == 1 and type(value.get("b64")) is str


def _fast(value, dt, maybe_bools):
    """Vectorised conversion via np.asarray, or None to let `_slow` diagnose the value."""
    if dt.kind == "O":
        return None
    try:
        raw = np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError):  # ragged, mixed, huge
        return None
    kind = raw.dtype.kind
    if dt.kind == "b":
        return raw if kind == "b" else None
    # np.asarray turns [true, 1.5] into floats: a bool anywhere must fail the type check.
    if kind not in "iuf" or (maybe_bools and _has_bool(value, raw.ndim)):
        return None
    if dt.kind in "iu":
        if kind == "f":
            return None
        if raw.size:
            info = np.iinfo(dt)
            if raw.min() < info.min or raw.max() > info.max:
                return None
        return raw.astype(dt, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        array = raw.astype(dt, copy=False)
    if np.isinf(array).any() and (np.isinf(array) & np.isfinite(raw)).any():
        return None  # a finite value (or integer) beyond the dtype's range: TF's lossy error
    return array


def _has_bool(value, ndim):
    leaves = [value] if ndim == 0 else value
    for _ in range(max(ndim - 1, 0)):
        leaves = itertools.chain.from_iterable(leaves)
    return bool in set(map(type, leaves))


def _slow(value, dt):
    """TF's FillTensorProto: shape from the first elements, then every leaf type-checked."""
    shape, probe = [], value
    while type(probe) is list:
        shape.append(len(probe))
        if len(shape) > _MAX_RANK:
            raise _bad(f"JSON value nests deeper than {_MAX_RANK} levels")
        if not probe:
            break
        probe = probe[0]
    rank, leaves = len(shape), []

    def fill(v, level):
        if type(v) is not list:
            if level != rank:
                raise _bad(f"JSON Value: {_show(v)} found at incorrect level: {level + 1} in "
                           f"the JSON DOM. Expected at level: {rank}")
            leaves.append(_leaf(v, dt))
            return
        if level >= rank:
            raise _bad(f"Encountered list at unexpected level: {level} expected < {rank}")
        if len(v) != shape[level]:
            raise _bad(f"Encountered list at unexpected size: {len(v)} at level: {level} "
                       f"expected size: {shape[level]}")
        for item in v:
            fill(item, level + 1)

    fill(value, 0)
    if dt.kind == "O":
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
    else:
        array = np.array(leaves, dtype=dt)
    return array.reshape(shape)


def _leaf(v, dt):
    t = type(v)
    if dt.kind == "O":
        if t is str:
            return v.encode()
        if t is dict:
            return _b64_decode(v)
    elif dt.kind == "b":
        if t is bool:
            return v
    elif t is int or t is float:  # type() is exact, so bools never pass as numbers
        if dt.kind in "iu":
            info = np.iinfo(dt)
            if t is int and info.min <= v <= info.max:
                return v
        else:
            try:
                f = float(v)
            except OverflowError:
                f = math.inf
            if (t is float and not math.isfinite(v)) or abs(f) <= _float_max(dt):
                return f
            raise _bad(f"Cannot convert JSON value: {_show(v)} to {_tf_type(dt)} without "
                       "loss of precision.")
    raise _bad(f"JSON Value: {_show(v)} Type: {_json_type(v)} is not of expected type: "
               f"{_tf_type(dt)}")


def _b64_decode(value):
    if not _is_b64(value):
        raise _bad(f"JSON Value: {_show(value)} not formatted correctly for base64 data")
    text = value["b64"]
    padded = text + "=" * (-len(text) % 4)  # absl accepts unpadded base64; Python does not
    try:
        if "-" in text or "_" in text:  # web-safe alphabet
            return base64.b64decode(padded, altchars=b"-_", validate=True)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("Unable to base64 decode") from None


# -- array -> JSON internals -------------------------------------------------------------------


def _string_json(v, b64):
    v = bytes(v) if isinstance(v, (bytes, bytearray)) else str(v).encode()
    # TF writes raw bytes into the JSON string; undecodable bytes need a `_bytes` name
    return {"b64": base64.b64encode(v).decode("ascii")} if b64 else v.decode("utf-8", "replace")


def _shortest(x):
    """float64 copy of x whose values repr as the shortest decimals that read back as x.

    Vectorised: per precision p, high to low, keep roundings that still cast back to x."""
    if x.size <= 64:  # a few values: per-value shortest repr beats the vectorised rounds
        return np.array([float(str(v)) for v in x.reshape(-1)], np.float64).reshape(x.shape)
    a = x.astype(np.float64)
    flat, want_all = a.reshape(-1), x.reshape(-1)
    idx = np.flatnonzero(np.isfinite(flat) & (flat != 0))
    if not idx.size:
        return a
    v, want = flat[idx], want_all[idx]
    best = v.copy()
    with np.errstate(all="ignore"):
        e = np.floor(np.log10(np.abs(v))).astype(np.int64)
    safe = (e >= -14) & (e <= 22)  # keeps every 10**k below exact for p = 1..9
    cur = np.flatnonzero(safe)
    with np.errstate(all="ignore"):
        for p in range(_FLOAT_DIGITS.get(x.dtype.name, 9), 0, -1):
            k = p - 1 - e[cur]
            up, down = _POW10[np.maximum(k, 0)], _POW10[np.maximum(-k, 0)]
            # one of up/down is 1, so y is a single correctly rounded op on exact m
            y = np.rint(v[cur] * up / down) * down / up
            ok = y.astype(x.dtype) == want[cur]
            cur = cur[ok]
            best[cur] = y[ok]
            if not cur.size:
                break
    for i in np.flatnonzero(~safe):  # far from 1: rare, so the scalar Dragon4 path
        text = str(want[i])
        if np.asarray(float(text)).astype(x.dtype) == want[i]:
            best[i] = float(text)
    flat[idx] = best
    return a


# -- small formatting helpers ------------------------------------------------------------------


def _is_float(dt):
    return dt.kind == "f" or dt.name == "bfloat16"


def _float_max(dt):
    try:
        return float(np.finfo(dt).max)
    except ValueError:
        import ml_dtypes
        return float(ml_dtypes.finfo(dt).max)


def _tf_type(dt):
    return _TF_TYPE.get(dt.name, dt.name)


def _json_type(v):
    return str(v) if isinstance(v, bool) else _JSON_TYPES.get(type(v), "Number")


def _dims(shape):
    return "[" + ",".join(str(-1 if d is None else d) for d in shape) + "]"


def _show(value, limit=256):
    """A JSON value for an error message, clipped: TF echoes whole documents otherwise."""
    def clip(v, depth):
        if isinstance(v, list):
            return ([clip(x, depth - 1) for x in v[:8]] + ["..."] * (len(v) > 8)
                    if depth else ["..."])
        if isinstance(v, dict):
            return ({k: clip(x, depth - 1) for k, x in list(v.items())[:8]} if depth
                    else {"...": "..."})
        return v
    text = json.dumps(clip(value, 3))
    return text if len(text) <= limit else text[:limit] + "..."
