"""Open Inference Protocol v2 wire format: JSON and Triton binary requests and responses.

Requests are built byte for byte the way tritonclient.http 2.73 builds them (spec 3.2), and
binary responses are read back by an independent decoder written here from spec 3.3."""

import json
import struct

import ml_dtypes
import numpy as np
import pytest

from xlaflow.serving.errors import ServingError
from xlaflow.serving.v2_codec import (
    encode_infer_response,
    model_metadata,
    parse_infer_request,
    server_metadata,
)


def spec(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": shape}


SIG = {"method_name": "tensorflow/serving/predict",
       "inputs": [spec("x", "float32", [None, 2])],
       "outputs": [spec("probs", "float32", [None, 2]), spec("label", "int64", [None])]}
MIXED = {"inputs": [spec("f", "float32", [None, 3]), spec("i", "int64", [None]),
                    spec("s", "string", [None]), spec("b", "bool", [None]),
                    spec("h", "bfloat16", [None]), spec("u", "uint16", [None])],
         "outputs": [spec("f", "float32", [None, 3])]}
# tritonclient.utils' numpy <-> datatype table, restated independently of the codec
NUMPY_OF = {"BOOL": bool, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
            "INT64": np.int64, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
            "UINT64": np.uint64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
            "BF16": ml_dtypes.bfloat16, "BYTES": object}


def serialize(array, datatype):
    """tritonclient's raw bytes: serialize_byte_tensor for BYTES, tobytes otherwise."""
    if datatype == "BYTES":
        items = [v if isinstance(v, bytes) else str(v).encode() for v in array.flatten()]
        return b"".join(struct.pack("<I", len(v)) + v for v in items)
    return array.tobytes()


def triton_request(inputs, outputs=None, request_id=""):
    """tritonclient.http's _get_inference_request: (body, Inference-Header-Content-Length).

    `inputs` holds (name, array, datatype, binary_data); `outputs` (name, binary_data)."""
    request, parameters, raws = {}, {}, []
    if request_id != "":
        request["id"] = request_id
    tensors = []
    for name, array, datatype, binary in inputs:
        tensor = {"name": name, "shape": list(array.shape), "datatype": datatype}
        if binary:
            raw = serialize(array, datatype)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            raws.append(raw)
        elif datatype == "BYTES":
            tensor["data"] = [v.decode() for v in array.flatten()]
        else:
            tensor["data"] = [v.item() for v in array.flatten()]
        tensors.append(tensor)
    request["inputs"] = tensors
    if outputs:
        request["outputs"] = [{"name": n, "parameters": {"binary_data": b}} for n, b in outputs]
    else:
        parameters["binary_data_output"] = True
    if parameters:
        request["parameters"] = parameters
    text = json.dumps(request, separators=(",", ":"))  # python-rapidjson's compact output
    if not raws:
        return text.encode(), None
    return text.encode() + b"".join(raws), len(text)


def decode_response(body, headers):
    """What tritonclient's InferResult does: JSON header, then binary outputs in order."""
    length = headers.get("Inference-Header-Content-Length")
    if length is None:
        assert headers["Content-Type"] == "application/json"
        doc, rest = json.loads(body), b""
    else:
        assert headers["Content-Type"] == "application/octet-stream"
        doc, rest = json.loads(body[:int(length)]), body[int(length):]
    arrays, pos = {}, 0
    for out in doc["outputs"]:
        dtype, shape = NUMPY_OF[out["datatype"]], out["shape"]
        size = out.get("parameters", {}).get("binary_data_size")
        if size is None:
            data = [v.encode() for v in out["data"]] if dtype is object else out["data"]
            arrays[out["name"]] = np.array(data, dtype=dtype).reshape(shape)
            continue
        chunk, pos = rest[pos:pos + size], pos + size
        if dtype is object:
            items, at = [], 0
            while at < len(chunk):
                (n,) = struct.unpack_from("<I", chunk, at)
                items.append(chunk[at + 4:at + 4 + n])
                at += 4 + n
            arrays[out["name"]] = np.array(items, dtype=object).reshape(shape)
        else:
            arrays[out["name"]] = np.frombuffer(chunk, dtype=dtype).reshape(shape)
    assert pos == len(rest)
    return doc, arrays


def fails(body, header_length=None, signature=SIG):
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    with pytest.raises(ServingError) as info:
        parse_infer_request(body, header_length, signature)
    assert info.value.code == "INVALID_ARGUMENT"
    return info.value.message


X = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)


# -- requests ----------------------------------------------------------------------------------
def test_json_request_flat_and_nested():
    body, length = triton_request([("x", X, "FP32", False)], [("probs", False)], "req-1")
    assert length is None
    request_id, inputs, requested, binary = parse_infer_request(body, None, SIG)
    assert request_id == "req-1" and requested == [("probs", False)] and binary is False
    assert inputs["x"].dtype == np.float32
    assert inputs["x"].tobytes() == X.tobytes()  # float32 -> JSON double -> float32 is exact
    nested = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32",
                          "data": [[1, 2], [3, 4]]}]}
    request_id, inputs, requested, binary = parse_infer_request(json.dumps(nested).encode(),
                                                                None, SIG)
    assert request_id is None and requested is None and binary is False
    assert inputs["x"].tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_binary_request_like_tritonclient():
    f = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    i = np.array([-(2 ** 40), 7], np.int64)
    s = np.array([b"caf\xc3\xa9", b""], dtype=object)
    b = np.array([True, False])
    h32 = np.array([1.5, -2.0], np.float32)
    h = h32.astype(ml_dtypes.bfloat16)
    u = np.array([65535, 1], np.uint16)
    body, length = triton_request([("f", f, "FP32", True), ("i", i, "INT64", True),
                                   ("s", s, "BYTES", True), ("b", b, "BOOL", True),
                                   ("h", h, "BF16", True), ("u", u, "UINT16", False)])
    request_id, inputs, requested, binary = parse_infer_request(body, length, MIXED)
    assert request_id is None and requested is None and binary is True
    assert inputs["f"].dtype == np.float32 and inputs["f"].tobytes() == f.tobytes()
    assert inputs["i"].tolist() == i.tolist() and inputs["i"].dtype == np.int64
    assert inputs["s"].dtype == object and inputs["s"].tolist() == [b"caf\xc3\xa9", b""]
    assert inputs["b"].dtype == bool and inputs["b"].tolist() == [True, False]
    assert inputs["h"].dtype == ml_dtypes.bfloat16 and inputs["h"].astype(np.float32).tolist() \
        == [1.5, -2.0]
    assert inputs["u"].dtype == np.uint16 and inputs["u"].tolist() == [65535, 1]


def test_json_bool_int_and_bytes_data():
    body, length = triton_request([("f", np.zeros((1, 3), np.float32), "FP32", False),
                              ("i", np.array([3], np.int64), "INT64", False),
                              ("s", np.array([b"hi"], dtype=object), "BYTES", False),
                              ("b", np.array([True]), "BOOL", False),
                              ("h", np.array([1.0], ml_dtypes.bfloat16), "BF16", True),
                              ("u", np.array([9], np.uint16), "UINT16", False)])
    _, inputs, _, _ = parse_infer_request(body, length, MIXED)
    assert inputs["s"].tolist() == [b"hi"] and inputs["b"].tolist() == [True]
    assert inputs["i"].dtype == np.int64


def test_request_errors():
    good = {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}
    assert "has datatype INT64, but the model expects FP32" in fails(
        {"inputs": [dict(good, datatype="INT64")]})
    assert "unknown datatype" in fails({"inputs": [dict(good, datatype="FLOAT")]})
    assert "has 3 elements in 'data', but shape [1, 2] needs 2" in fails(
        {"inputs": [dict(good, data=[1, 2, 3])]})
    assert "unexpected inference input 'z'" in fails({"inputs": [good, dict(good, name="z")]})
    assert "more than once" in fails({"inputs": [good, good]})
    assert "missing inference input(s): x" in fails({"inputs": []})
    assert "'x' has shape [1,3], but the signature expects [-1,2]" in fails(
        {"inputs": [dict(good, shape=[1, 3], data=[1, 2, 3])]})
    assert "non-negative integers" in fails({"inputs": [dict(good, shape=[-1, 2])]})
    assert "neither 'data' nor binary_data_size" in fails(
        {"inputs": [{k: v for k, v in good.items() if k != "data"}]})
    assert "not of expected type: float" in fails({"inputs": [dict(good, data=[1, "a"])]})
    assert "must be a string" in fails({"id": 5, "inputs": [good]})
    assert "'inputs' array" in fails({"outputs": []})
    assert "unexpected inference output 'nope'" in fails(
        {"inputs": [good], "outputs": [{"name": "nope"}]})
    assert "must be true or false" in fails(
        {"inputs": [good], "parameters": {"binary_data_output": "yes"}})
    assert "must be a JSON object" in fails({"inputs": [dict(good, parameters=[])]})
    assert fails(b"") == "JSON Parse error: The document is empty"
    assert "must be a JSON object" in fails(b"[]")
    assert "shared memory" in fails({"inputs": [dict(good, parameters={
        "shared_memory_region": "r", "shared_memory_byte_size": 8})]})


def manual(inputs, raw):
    header = json.dumps({"inputs": inputs})
    return header.encode() + raw, len(header)


def test_binary_request_errors():
    body, length = triton_request([("x", X, "FP32", True)])
    assert "does not fit" in fails(body, len(body) + 1)
    assert "expects 16 bytes of binary data, but only 15 remain" in fails(body[:-1], length)
    assert "4 bytes of binary data follow" in fails(body + b"\0" * 4, length)
    x = {"name": "x", "shape": [2, 2], "datatype": "FP32"}
    assert "has 12 bytes of binary data, but shape [2, 2] of FP32 needs 16" in fails(
        *manual([dict(x, parameters={"binary_data_size": 12})], b"\0" * 12))
    assert "both 'data' and binary_data_size" in fails(*manual(
        [dict(x, data=[1, 2, 3, 4], parameters={"binary_data_size": 16})], b"\0" * 16))
    sig = {"inputs": [spec("s", "string", [None])], "outputs": []}
    raw = serialize(np.array([b"abc", b"d"], dtype=object), "BYTES")  # 12 bytes
    s = {"name": "s", "shape": [2], "datatype": "BYTES"}
    assert "BYTES element 1 runs past its binary_data_size" in fails(
        *manual([dict(s, parameters={"binary_data_size": 11})], raw[:11]), signature=sig)
    assert "has 2 BYTES elements, but shape [3] needs 3" in fails(
        *manual([dict(s, shape=[3], parameters={"binary_data_size": 12})], raw), signature=sig)


# -- responses ---------------------------------------------------------------------------------
OUTPUTS = {"probs": np.array([[0.1, 0.9], [np.nan, -np.inf]], np.float32),
           "label": np.array([1, -(2 ** 62)], np.int64)}


def test_json_response():
    body, headers = encode_infer_response("mnist", 3, "req-1", OUTPUTS, ["probs", "label"],
                                          None, False)
    assert headers == {"Content-Type": "application/json"}
    doc, arrays = decode_response(body, headers)
    assert doc["model_name"] == "mnist" and doc["model_version"] == "3" and doc["id"] == "req-1"
    assert doc["outputs"][0] == {"name": "probs", "datatype": "FP32", "shape": [2, 2],
                                 "data": [0.1, 0.9, doc["outputs"][0]["data"][2], -np.inf]}
    assert b'"data": [0.1, 0.9, NaN, -Infinity]' in body
    np.testing.assert_array_equal(arrays["probs"], OUTPUTS["probs"])
    assert arrays["label"].tolist() == OUTPUTS["label"].tolist()
    body, _ = encode_infer_response("m", 1, None, OUTPUTS, ["probs", "label"], [("label", False)],
                                    True)
    doc = json.loads(body)
    assert "id" not in doc and [o["name"] for o in doc["outputs"]] == ["label"]


def test_binary_response_decoded_independently():
    outputs = dict(OUTPUTS, text=np.array([b"a\x00b", b"", "é"], dtype=object),
                   mask=np.array([[True, False]]), half=np.array([1.5, 65504], np.float16))
    order = ["probs", "label", "text", "mask", "half"]
    body, headers = encode_infer_response("m", 2, "", outputs, order, None, True)
    doc, arrays = decode_response(body, headers)
    assert int(headers["Inference-Header-Content-Length"]) == body.index(b"}]}") + 3
    assert doc["id"] == "" and [o["datatype"] for o in doc["outputs"]] == \
        ["FP32", "INT64", "BYTES", "BOOL", "FP16"]
    assert arrays["probs"].tobytes() == outputs["probs"].tobytes()
    assert arrays["label"].tolist() == outputs["label"].tolist()
    assert arrays["text"].tolist() == [b"a\x00b", b"", "é".encode()]
    assert arrays["mask"].tolist() == [[True, False]] and arrays["half"].tolist() == [1.5, 65504]


def test_mixed_binary_and_json_outputs():
    body, headers = encode_infer_response("m", 2, None, OUTPUTS, ["probs", "label"],
                                          [("label", True), ("probs", False)], False)
    doc, arrays = decode_response(body, headers)
    assert [o["name"] for o in doc["outputs"]] == ["label", "probs"]
    assert doc["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert arrays["label"].tolist() == OUTPUTS["label"].tolist()
    np.testing.assert_array_equal(arrays["probs"], OUTPUTS["probs"])


def test_round_trip_through_both_encodings():
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    for binary in (False, True):
        body, headers = encode_infer_response("m", 1, None, {"probs": x, "label": x[:, 0]},
                                              ["probs"], None, binary)
        _, arrays = decode_response(body, headers)
        assert arrays["probs"].tobytes() == x.tobytes()
        request, length = triton_request([("x", arrays["probs"], "FP32", binary)])
        assert parse_infer_request(request, length, SIG)[1]["x"].tobytes() == x.tobytes()


# -- metadata ----------------------------------------------------------------------------------
def test_model_and_server_metadata():
    meta = model_metadata("mnist", ["2", "1"], MIXED)
    assert meta["name"] == "mnist" and meta["versions"] == ["2", "1"]
    assert meta["platform"] == "xlaflow_jax"
    assert meta["inputs"][:4] == [{"name": "f", "datatype": "FP32", "shape": [-1, 3]},
                                  {"name": "i", "datatype": "INT64", "shape": [-1]},
                                  {"name": "s", "datatype": "BYTES", "shape": [-1]},
                                  {"name": "b", "datatype": "BOOL", "shape": [-1]}]
    assert meta["inputs"][4]["datatype"] == "BF16" and meta["outputs"][0]["shape"] == [-1, 3]
    server = server_metadata()
    assert server["name"] == "xlaflow" and isinstance(server["version"], str)
    assert server["extensions"] == ["binary_tensor_data"]
    json.dumps(meta), json.dumps(server)


@pytest.mark.parametrize("shape", [[0, 2 ** 63], [0, 3, 2 ** 62], [2 ** 40, 0, 2 ** 40]])
@pytest.mark.parametrize("binary", [False, True])
def test_an_empty_shape_numpy_cannot_make_is_a_400_naming_the_input(shape, binary):
    # No elements, so the element count matches; numpy still refuses the dimensions (they
    # overflow its index type), which used to escape as a ValueError: a 500.
    sig = {"inputs": [spec("x", "float32", None)], "outputs": []}
    tensor = {"name": "x", "shape": shape, "datatype": "FP32"}
    if binary:
        message = fails(*manual([dict(tensor, parameters={"binary_data_size": 0})], b""),
                        signature=sig)
    else:
        message = fails({"inputs": [dict(tensor, data=[])]}, signature=sig)
    assert f"input 'x' has a shape numpy cannot represent: {shape}" in message
