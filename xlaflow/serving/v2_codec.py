"""Open Inference Protocol v2 (KServe / Triton) wire format, with Triton's binary extension.

Pure conversion between request/response bytes and numpy (spec 3.1-3.3), so tritonclient's
default binary requests and JSON-only clients are both handled and tested without HTTP.
"""

from __future__ import annotations

import json
import math

import numpy as np

try:  # the serving extra; without it json.dumps writes the same documents
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

from xlaflow.serving.errors import ServingError
from xlaflow.serving.tensor_json import (
    STRING_DTYPES,
    array_from_json,
    array_to_json,
    check_shape,
    load_json,
    np_dtype,
    tensor_specs,
)

PLATFORM = "xlaflow_jax"
HEADER_LENGTH = "Inference-Header-Content-Length"
SERVER_NAME = "xlaflow"
EXTENSIONS = ("binary_tensor_data",)
# v2 datatype -> numpy dtype name (BYTES travel as object arrays of bytes).
DATATYPES = {"BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32",
             "UINT64": "uint64", "INT8": "int8", "INT16": "int16", "INT32": "int32",
             "INT64": "int64", "FP16": "float16", "FP32": "float32", "FP64": "float64",
             "BF16": "bfloat16", "BYTES": "object"}
_BY_NUMPY = {numpy_name: v2 for v2, numpy_name in DATATYPES.items()}


def _bad(message):
    return ServingError("INVALID_ARGUMENT", message)


def datatype(dtype) -> str:
    """The v2 datatype name (FP32, BYTES, ...) of a numpy dtype or signature dtype name."""
    # Looked up twice per request: numpy's dtype.name runs Python code (~5 µs), so each
    # answer is kept (there are only as many keys as dtypes and dtype names in use).
    try:
        return _DATATYPES_SEEN[dtype]
    except KeyError:
        pass
    if isinstance(dtype, str) and dtype in STRING_DTYPES:
        name = "BYTES"
    else:
        dt = np_dtype(dtype)
        name = "BYTES" if dt.kind in "OSU" else _BY_NUMPY.get(dt.name, "INVALID")
    _DATATYPES_SEEN[dtype] = name
    return name


_DATATYPES_SEEN = {}


# -- inference request -------------------------------------------------------------------------
def parse_infer_request(body: bytes, header_length, signature: dict) -> tuple:
    """(request id or None, {input: array}, [(output, binary)] or None, binary_default).

    `header_length` is the Inference-Header-Content-Length value: the JSON is that prefix
    of the body and binary inputs are sliced, in order, from the rest.
    """
    body = bytes(body)
    if header_length is None:
        header, binary = body, memoryview(b"")
    else:
        if not 0 <= header_length <= len(body):
            raise _bad(f"{HEADER_LENGTH} {header_length} does not fit the request body of "
                       f"{len(body)} bytes")
        header, binary = body[:header_length], memoryview(body)[header_length:]
    doc = load_json(header)
    if not isinstance(doc, dict):
        raise _bad("the inference request must be a JSON object")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad("the request 'id' must be a string")
    binary_default = _flag(_params(doc, "the request"), "binary_data_output", False)
    specs = {name: (dtype, shape) for name, dtype, shape in tensor_specs(signature, "inputs")}
    entries = doc.get("inputs")
    if not isinstance(entries, list):
        raise _bad("the inference request needs an 'inputs' array")
    maybe_bools = b"true" in header or b"false" in header
    inputs, offset = {}, 0
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _bad("each element of 'inputs' must be an object with a string 'name'")
        name = entry["name"]
        if name not in specs:
            raise _bad(f"unexpected inference input '{name}', the model's inputs are: "
                       f"{', '.join(specs)}")
        if name in inputs:
            raise _bad(f"inference input '{name}' is given more than once")
        dtype, spec_shape = specs[name]
        expected, sent = datatype(dtype), entry.get("datatype")
        if not isinstance(sent, str) or sent not in DATATYPES:
            raise _bad(f"inference input '{name}' has an unknown datatype: {sent!r}")
        if sent != expected:
            raise _bad(f"inference input '{name}' has datatype {sent}, but the model "
                       f"expects {expected}")
        shape = entry.get("shape")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise _bad(f"inference input '{name}' needs a 'shape' of non-negative integers")
        count = math.prod(shape)
        params = _params(entry, f"input '{name}'")
        if "shared_memory_region" in params:  # the extension is not offered (see EXTENSIONS)
            raise _bad(f"input '{name}': shared memory inputs are not supported")
        size = params.get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0:
                raise _bad(f"input '{name}': binary_data_size must be a non-negative integer")
            if "data" in entry:
                raise _bad(f"input '{name}' has both 'data' and binary_data_size")
            if offset + size > len(binary):
                raise _bad(f"input '{name}' expects {size} bytes of binary data, but only "
                           f"{len(binary) - offset} remain after the JSON header")
            array = _from_binary(name, binary[offset:offset + size], sent, shape, count)
            offset += size
        elif "data" in entry:
            array = array_from_json(entry["data"], np_dtype(dtype), maybe_bools)
            if array.size != count:
                raise _bad(f"input '{name}' has {array.size} elements in 'data', but shape "
                           f"{shape} needs {count}")
            array = _reshape(name, array, shape)
        else:
            raise _bad(f"input '{name}' has neither 'data' nor binary_data_size")
        check_shape(name, array, spec_shape)
        inputs[name] = array
    if offset != len(binary):
        raise _bad(f"{len(binary) - offset} bytes of binary data follow the JSON header "
                   "but no input claims them")
    missing = [name for name in specs if name not in inputs]
    if missing:
        raise _bad(f"missing inference input(s): {', '.join(missing)}")
    return request_id, inputs, _requested(doc, signature, binary_default), binary_default


def _params(obj, what):
    params = obj.get("parameters")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise _bad(f"'parameters' of {what} must be a JSON object")
    return params


def _flag(params, key, default):
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise _bad(f"parameter '{key}' must be true or false")
    return value


def _requested(doc, signature, binary_default):
    entries = doc.get("outputs")
    if entries is None or entries == []:  # every output, as binary_data_output says
        return None  # (an empty list asks for all of them too, as in Triton)
    if not isinstance(entries, list):
        raise _bad("'outputs' must be an array")
    known = {name for name, _, _ in tensor_specs(signature, "outputs")}
    requested = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _bad("each element of 'outputs' must be an object with a string 'name'")
        name = entry["name"]
        if name not in known:
            raise _bad(f"unexpected inference output '{name}', the model's outputs are: "
                       f"{', '.join(sorted(known))}")
        if any(name == seen for seen, _ in requested):
            raise _bad(f"inference output '{name}' is requested more than once")
        params = _params(entry, f"output '{name}'")
        requested.append((name, _flag(params, "binary_data", binary_default)))
    return requested


def _from_binary(name, chunk, sent, shape, count):
    """Little-endian row-major bytes (BYTES: 4-byte length prefixes) as an array of `shape`."""
    if sent == "BYTES":
        items, pos = [], 0
        while pos < len(chunk):
            length = int.from_bytes(chunk[pos:pos + 4], "little")  # short read: caught below
            if pos + 4 + length > len(chunk):
                raise _bad(f"input '{name}': BYTES element {len(items)} runs past its "
                           "binary_data_size")
            items.append(bytes(chunk[pos + 4:pos + 4 + length]))
            pos += 4 + length
        if len(items) != count:
            raise _bad(f"input '{name}' has {len(items)} BYTES elements, but shape {shape} "
                       f"needs {count}")
        array = np.empty(count, dtype=object)
        array[:] = items
        return _reshape(name, array, shape)
    dt = np_dtype(DATATYPES[sent])
    if len(chunk) != count * dt.itemsize:
        raise _bad(f"input '{name}' has {len(chunk)} bytes of binary data, but shape {shape} "
                   f"of {sent} needs {count * dt.itemsize}")
    if sent == "BOOL":  # one byte each; any non-zero byte is true
        return _reshape(name, np.frombuffer(chunk, dtype=np.uint8).astype(bool), shape)
    # zero-copy view of the body; '<' makes the wire's little-endian explicit
    return _reshape(name, np.frombuffer(chunk, dtype=dt.newbyteorder("<")).astype(
        dt, copy=False), shape)


def _reshape(name, array, shape):
    """`array` (of the right element count) in `shape`; a 400 when numpy cannot make that
    shape (no elements, but dimensions past its index range, e.g. [0, 2**63])."""
    try:
        return array.reshape(shape)
    except ValueError as exc:
        raise _bad(f"input '{name}' has a shape numpy cannot represent: {shape} ({exc})") \
            from None


# -- inference response ------------------------------------------------------------------------
def encode_infer_response(model_name: str, version, request_id, outputs: dict,
                          output_order: list, requested_outputs, binary_default: bool) -> tuple:
    """(body, headers) of the inference response; binary outputs follow the JSON header.

    With any binary output the headers carry Inference-Header-Content-Length and the body
    is application/octet-stream; otherwise it is plain JSON.
    """
    chosen = ([(name, binary_default) for name in output_order]
              if requested_outputs is None else requested_outputs)
    entries, blobs = [], []
    for name, binary in chosen:
        if name not in outputs:
            raise _bad(f"unexpected inference output '{name}'")
        array = np.asarray(outputs[name])
        kind = datatype(array.dtype)
        entry = {"name": name, "datatype": kind, "shape": list(array.shape)}
        if binary:
            blob = _to_binary(array, kind)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = array_to_json(array.reshape(-1))
        entries.append(entry)
    doc = {"model_name": model_name, "model_version": str(version)}
    if request_id is not None:
        doc["id"] = request_id
    doc["outputs"] = entries
    # Only names, shapes and sizes when every output is binary: orjson writes those as
    # json.dumps does, ~5x faster; values in JSON keep json.dumps (NaN, float formatting).
    header = _orjson.dumps(doc) if _orjson is not None and len(blobs) == len(entries) \
        else json.dumps(doc).encode()
    if not blobs:
        return header, {"Content-Type": "application/json"}
    return header + b"".join(blobs), {"Content-Type": "application/octet-stream",
                                      HEADER_LENGTH: str(len(header))}


def _to_binary(array, kind):
    if kind == "BYTES":
        items = [bytes(v) if isinstance(v, (bytes, bytearray)) else str(v).encode()
                 for v in array.reshape(-1).tolist()]
        return b"".join(len(v).to_bytes(4, "little") + v for v in items)
    if kind == "BOOL":
        return array.astype(np.uint8).tobytes()
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


# -- metadata ----------------------------------------------------------------------------------
def model_metadata(name: str, versions, signature: dict) -> dict:
    """GET /v2/models/{M}: name, versions, platform, and inputs/outputs (-1 = dynamic dim)."""
    def tensors(key):
        return [{"name": n, "datatype": datatype(d),
                 "shape": [-1] if s is None else [-1 if x is None else int(x) for x in s]}
                for n, d, s in tensor_specs(signature, key)]
    meta = {"name": name}
    if versions is not None:
        meta["versions"] = [str(v) for v in versions]
    meta.update(platform=PLATFORM, inputs=tensors("inputs"), outputs=tensors("outputs"))
    return meta


def server_metadata() -> dict:
    """GET /v2: server name, version and the extensions implemented (binary tensors)."""
    try:  # the version is read on demand: this module itself must not pull in jax
        from xlaflow import __version__ as version
    except ImportError:
        version = "0.0.0"
    return {"name": SERVER_NAME, "version": str(version), "extensions": list(EXTENSIONS)}
