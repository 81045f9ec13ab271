"""TF Serving's REST wire format: predict requests to numpy, outputs/status/metadata to JSON.

Pure conversion (no HTTP, no model), so TF's exact messages and number formatting, which
clients depend on, live and are tested in one place."""

from __future__ import annotations

import json

import numpy as np

from xlaflow.saving.dtype_names import tf_name
from xlaflow.serving.errors import ServingError
from xlaflow.serving.tensor_json import (
    STRING_DTYPES,
    _bad,
    _dims,
    _fast,
    _is_b64,
    _show,
    _slow,
    array_from_json,
    array_to_json,
    check_shape,
    dumps_arrays,
    load_json,
    np_dtype,
    tensor_specs,
)

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"


# -- predict request ---------------------------------------------------------------------------
def parse_predict_request(body: bytes, signatures: dict) -> tuple:
    """(signature name, {input name: array}, row_format) from a `:predict` request body.

    TF Serving's json_tensor.cc checks and messages; client mistakes are INVALID_ARGUMENT."""
    body = bytes(body)
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise _bad(f"JSON Value: {_show(doc)} Is not object")
    if "signature_name" in doc and not isinstance(doc["signature_name"], str):
        raise _bad(f"JSON Value: {_show(doc)} not formatted correctly. 'signature_name' key "
                   "must be a string value.")
    name = doc.get("signature_name") or DEFAULT_SIGNATURE
    if name not in signatures:
        raise _bad(f'Serving signature name: "{name}" not found in signature def')
    specs = tensor_specs(signatures[name], "inputs")
    if not specs:
        raise _bad(f"Failed to get input map for signature: {name}")
    # A body without the tokens true/false cannot smuggle bools into numeric inputs.
    maybe_bools = b"true" in body or b"false" in body
    if "instances" in doc and "inputs" in doc:
        raise _bad(f"JSON Value: {_show(doc)} Not formatted correctly expecting only one of "
                   "'inputs' or 'instances' keys to exist")
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise _bad(f"JSON Value: {_show(doc)} Expecting 'instances' to be an list/array")
        if not instances:
            raise _bad(f"JSON Value: {_show(doc)} No values in 'instances' array")
        arrays, row_format = _from_rows(instances, specs, maybe_bools), True
    elif "inputs" in doc:
        arrays, row_format = _from_columns(doc["inputs"], specs, maybe_bools), False
    else:
        raise _bad("Missing 'inputs' or 'instances' key")
    for input_name, _, shape in specs:
        check_shape(input_name, arrays[input_name], shape)
    return name, arrays, row_format


def _is_named(value):
    return type(value) is dict and not _is_b64(value)


def _from_rows(instances, specs, maybe_bools):
    names = [name for name, _, _ in specs]
    dtypes = {name: np_dtype(dtype) for name, dtype, _ in specs}
    named = _is_named(instances[0])
    if not named and len(names) > 1:
        raise _bad("instances is a plain list, but expecting list of objects as multiple "
                   "input tensors required as per tensorinfo_map")
    if not named:
        for i, row in enumerate(instances):
            if _is_named(row):
                raise _bad(f"Expecting value/list but got object at item {i} of input list")
        return {names[0]: _stack(instances, dtypes[names[0]], maybe_bools, None)}
    wanted = set(names)
    for i, row in enumerate(instances):
        if not _is_named(row):
            raise _bad(f"Expecting object but got list at item {i} of input list")
        for key in row:
            if key not in wanted:
                raise _bad(f"Failed to process element: {i} key: {key} of 'instances' list. "
                           f"Error: INVALID_ARGUMENT: JSON object: does not have named input: "
                           f"{key}")
        if len(row) != len(wanted):
            raise _bad(f"Failed to process element: {i} of 'instances' list. JSON object: "
                       f"{_show(row)} keys must be equal to: {','.join(sorted(wanted))}")
    return {name: _stack([row[name] for row in instances], dtypes[name], maybe_bools, name)
            for name in names}


def _stack(rows, dt, maybe_bools, key):
    """Rows of one input stacked on a new batch dim; on failure, TF's per-row diagnosis."""
    stacked = _fast(rows, dt, maybe_bools) if len(rows) else None
    if stacked is not None:
        return stacked
    parts = []
    for i, row in enumerate(rows):
        try:
            part = _slow(row, dt)
            if parts and part.size != parts[0].size:
                raise _bad(f"Expecting tensor size: {parts[0].size} but got: {part.size}")
            if parts and part.shape != parts[0].shape:
                raise _bad(f"Expecting shape {_dims(parts[0].shape)} but got: "
                           f"{_dims(part.shape)}")
        except ServingError as exc:
            where = f"{i}" if key is None else f"{i} key: {key}"
            raise _bad(f"Failed to process element: {where} of 'instances' list. Error: "
                       f"INVALID_ARGUMENT: {exc.message}") from None
        parts.append(part)
    return np.stack(parts)


def _from_columns(inputs, specs, maybe_bools):
    if not _is_named(inputs):
        if len(specs) > 1:
            raise _bad("inputs is a plain value/list, but expecting an object as multiple "
                       "input tensors required as per tensorinfo_map")
        name, dtype, _ = specs[0]
        return {name: array_from_json(inputs, dtype, maybe_bools)}
    arrays = {}
    for name, dtype, _ in specs:  # extra keys are ignored, as in TF
        if name not in inputs:
            raise _bad(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = array_from_json(inputs[name], dtype, maybe_bools)
    return arrays


# -- predict response --------------------------------------------------------------------------
def encode_predict_response(outputs: dict, output_order: list, row_format: bool) -> bytes:
    """`{"predictions":...}` (row request) or `{"outputs":...}` (columnar) as compact JSON.

    One output drops its name; several give per-row objects (row) or a name -> tensor map."""
    if not output_order:
        raise _bad("Cannot convert empty tensor map to JSON")
    arrays = {name: np.asarray(outputs[name]) for name in output_order}
    if row_format:
        batch = None
        for name, array in arrays.items():
            if array.ndim == 0:
                raise _bad(f"Tensor name: {name} has no shape information")
            if batch is not None and array.shape[0] != batch:
                raise _bad(f"Tensor name: {name} has inconsistent batch size: "
                           f"{array.shape[0]} expecting: {batch}")
            batch = array.shape[0]
    key = "predictions" if row_format else "outputs"
    fast = dumps_arrays({key: _payload(arrays, row_format)}, arrays.values())
    if fast is not None:
        return fast
    values = {name: array_to_json(array, name.endswith("_bytes") and array.dtype.kind in "OS")
              for name, array in arrays.items()}
    return json.dumps({key: _payload(values, row_format)}, separators=(",", ":")).encode()


def _payload(values, row_format):
    if len(values) == 1:
        return next(iter(values.values()))
    if row_format:
        return [dict(zip(values, row)) for row in zip(*values.values())]
    return values


# -- status and metadata -----------------------------------------------------------------------
def status_response(model_versions) -> bytes:
    """GetModelStatusResponse JSON: versions descending, int64 as strings, defaults printed."""
    entries = sorted(model_versions, key=lambda entry: int(entry[0]), reverse=True)
    return json.dumps({"model_version_status": [
        {"version": str(int(version)), "state": state,
         "status": {"error_code": code or "OK", "error_message": message or ""}}
        for version, state, code, message in entries]}).encode()


def metadata_response(model_name: str, version: int, signatures: dict) -> bytes:
    """GetModelMetadataResponse JSON, the doubled `signature_def` key included (spec 1.4)."""
    defs = {}
    for sig_name, signature in signatures.items():
        defs[sig_name] = {
            "inputs": {n: _tensor_info(n, d, s) for n, d, s in tensor_specs(signature, "inputs")},
            "outputs": {n: _tensor_info(n, d, s)
                        for n, d, s in tensor_specs(signature, "outputs")},
            "method_name": signature.get("method_name") or PREDICT_METHOD,
            "defaults": {}}
    return json.dumps({
        "model_spec": {"name": model_name, "signature_name": "", "version": str(int(version))},
        "metadata": {"signature_def": {"signature_def": defs}}}).encode()


def _tensor_info(name, dtype, shape):
    dims = [] if shape is None else [
        {"size": str(-1 if d is None else int(d)), "name": ""} for d in shape]
    return {"dtype": "DT_STRING" if dtype in STRING_DTYPES else tf_name(dtype), "name": name,
            "tensor_shape": {"dim": dims, "unknown_rank": shape is None}}
