"""TF Serving REST wire format: request parsing, TF's error messages, response encoding.

Each error-table row of spec 1.2 that the codec owns has a test; float32 values must
survive encode -> parse bit for bit, which hypothesis checks over every float32 class."""

import base64
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from xlaflow.serving.errors import CODES, ServingError, error_body, http_status
from xlaflow.serving.rest_codec import (
    encode_predict_response,
    metadata_response,
    parse_predict_request,
    status_response,
)


def spec(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": shape}


def signatures(inputs, outputs=None, name="serving_default"):
    outputs = outputs or [spec("y", "float32", [None])]
    return {name: {"method_name": "tensorflow/serving/predict", "inputs": list(inputs),
                   "outputs": list(outputs)}}


HALF_PLUS_THREE = signatures([spec("x", "float32", [None])])
MNIST = signatures([spec("x", "float32", [None, 28, 28])], [spec("probs", "float32", [None, 10])])
TWO_INPUTS = signatures([spec("a", "float32", [None, 2]), spec("b", "int32", [None])])


def parse(body, sigs=HALF_PLUS_THREE):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return parse_predict_request(body, sigs)


def fails(body, sigs=HALF_PLUS_THREE, code="INVALID_ARGUMENT"):
    with pytest.raises(ServingError) as info:
        parse(body, sigs)
    assert info.value.code == code
    return info.value.message


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("code,status", [
    ("OK", 200), ("INVALID_ARGUMENT", 400), ("FAILED_PRECONDITION", 400), ("OUT_OF_RANGE", 400),
    ("UNAUTHENTICATED", 401), ("PERMISSION_DENIED", 403), ("NOT_FOUND", 404),
    ("ALREADY_EXISTS", 409), ("ABORTED", 409), ("RESOURCE_EXHAUSTED", 429), ("CANCELLED", 499),
    ("UNKNOWN", 500), ("INTERNAL", 500), ("DATA_LOSS", 500), ("UNIMPLEMENTED", 501),
    ("UNAVAILABLE", 503), ("DEADLINE_EXCEEDED", 504), ("NO_SUCH_CODE", 500)])
def test_http_status(code, status):
    assert http_status(code) == status


def test_serving_error_and_body():
    err = ServingError("NOT_FOUND", "Servable not found for request: Latest(m)")
    assert (err.code, err.message, err.http_status) == ("NOT_FOUND", str(err), 404)
    assert json.loads(error_body('say "hi"\n')) == {"error": 'say "hi"\n'}
    assert len(CODES) == 17 and CODES[0] == "OK"


# -- request errors (spec 1.2 message table) --------------------------------------------------
def test_empty_and_malformed_json():
    assert fails(b"") == "JSON Parse error: The document is empty"
    assert fails(b'{"instances": [1,]}') == "JSON Parse error: Invalid value. at offset: 17"
    assert fails(b'{"a": 1} x').startswith("JSON Parse error: The document root must not")
    assert fails(b'{"a": "\xc3\xa9" x}').endswith("at offset: 11")  # bytes, not characters
    assert fails(b"\xff{}") == "JSON Parse error: Invalid encoding in string. at offset: 0"
    assert fails(b"[" * 100000).startswith("JSON Parse error")


def test_top_level_and_signature_name():
    assert fails(b"[1, 2]") == "JSON Value: [1, 2] Is not object"
    assert fails({"signature_name": 7, "instances": [1]}).endswith(
        "'signature_name' key must be a string value.")
    assert fails({"signature_name": "nope", "instances": [1]}) == \
        'Serving signature name: "nope" not found in signature def'
    sigs = signatures([spec("x", "float32", [None])], name="other")
    assert fails({"instances": [1]}, sigs) == \
        'Serving signature name: "serving_default" not found in signature def'
    assert parse({"signature_name": "other", "instances": [1]}, sigs)[0] == "other"
    assert parse({"signature_name": "", "instances": [1]})[0] == "serving_default"


def test_instances_and_inputs_keys():
    assert fails({"instances": [1], "inputs": [1]}).endswith(
        "expecting only one of 'inputs' or 'instances' keys to exist")
    assert fails({"signature_name": "serving_default"}) == "Missing 'inputs' or 'instances' key"
    assert fails({"instances": 3}).endswith("Expecting 'instances' to be an list/array")
    assert fails({"instances": []}).endswith("No values in 'instances' array")
    assert parse({"instances": [1], "extra": {"ignored": True}})[1]["x"].tolist() == [1.0]


@pytest.mark.parametrize("value,message", [
    ('"a"', 'JSON Value: "a" Type: String is not of expected type: float'),
    ("true", "JSON Value: true Type: True is not of expected type: float"),
    ("null", "JSON Value: null Type: Null is not of expected type: float"),
    ('{"k": 1}', 'JSON Value: {"k": 1} Type: Object is not of expected type: float'),
])
def test_wrong_element_type(value, message):
    # in a list with a valid number first, so the vectorised path must notice the odd one
    assert fails(f'{{"inputs": [1.5, {value}]}}'.encode()) == message
    assert message in fails(f'{{"instances": [[1.5, {value}]]}}'.encode())


def test_int_bool_and_lossy_values():
    ints = signatures([spec("i", "int32", [None])])
    assert fails({"inputs": [1, 2.5]}, ints).endswith("Type: Number is not of expected type: int32")
    assert fails({"inputs": [1, 2 ** 40]}, ints).startswith("JSON Value: 1099511627776 Type:")
    assert fails({"inputs": [1, True]}, ints).endswith("not of expected type: int32")
    bools = signatures([spec("b", "bool", [None])])
    assert fails({"inputs": [True, 1]}, bools).endswith("not of expected type: bool")
    assert fails({"inputs": [1e39]}) == \
        "Cannot convert JSON value: 1e+39 to float without loss of precision."
    # An integer too big for a half, and a literal too big for any double: not infinity.
    halves = signatures([spec("h", "float16", [None])])
    assert fails({"inputs": [70000, 2]}, halves) == \
        "Cannot convert JSON value: 70000 to half without loss of precision."
    with pytest.raises(ServingError, match="Number too big to be stored in double"):
        parse_predict_request(b'{"inputs": [1e400]}', signatures([spec("x", "float32",
                                                                        [None])]))


def test_ragged_rows():
    assert fails({"instances": [[1, 2], [3]]}, signatures([spec("x", "float32", None)])) == (
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
        "Expecting tensor size: 2 but got: 1")
    assert fails({"instances": [[1, 2], [[3], [4]]]},
                 signatures([spec("x", "float32", None)])).endswith(
        "Expecting shape [2] but got: [2,1]")
    assert fails({"inputs": [[1, 2], [3]]}) == (
        "Encountered list at unexpected size: 1 at level: 1 expected size: 2")
    assert fails({"inputs": [[1], 2]}).startswith("JSON Value: 2 found at incorrect level: 2")


def test_shape_checked_against_signature():
    body = {"instances": np.zeros((2, 27, 28)).tolist()}
    message = fails(body, MNIST)
    assert "'x'" in message and "[2,27,28]" in message and "[-1,28,28]" in message
    assert "[1,28]" in fails({"inputs": [[0.0] * 28]}, MNIST)  # rank mismatch


def test_several_inputs_need_names():
    assert fails({"instances": [[1, 2], [3, 4]]}, TWO_INPUTS).startswith(
        "instances is a plain list, but expecting list of objects")
    assert fails({"inputs": [[1, 2]]}, TWO_INPUTS).startswith(
        "inputs is a plain value/list, but expecting an object")
    assert fails({"inputs": {"a": [[1, 2]]}}, TWO_INPUTS) == \
        "Missing named input: b in 'inputs' object."
    row = {"a": [1, 2], "b": 1}
    assert fails({"instances": [row, [1, 2]]}, TWO_INPUTS) == \
        "Expecting object but got list at item 1 of input list"
    assert fails({"instances": [[1.0], {"x": [1.0]}]},
                 signatures([spec("x", "float32", None)])) == \
        "Expecting value/list but got object at item 1 of input list"
    assert fails({"instances": [row, {"a": [1, 2]}]}, TWO_INPUTS).endswith(
        "keys must be equal to: a,b")
    assert "does not have named input: c" in fails(
        {"instances": [dict(row, c=1)]}, TWO_INPUTS)
    assert fails({"instances": [row, {"a": [1, 2], "b": 1.5}]}, TWO_INPUTS).startswith(
        "Failed to process element: 1 key: b of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON Value: 1.5")


def test_never_a_bare_exception_for_client_bytes():
    bodies = [b"{", b'{"inputs": {"b64": 3}}', b'{"instances": [[[[]]]]}', b'{"inputs": 1e999}',
              b'{"instances": [{"b64": "QQ=="}]}', b'{"inputs": [' + b"9" * 5000 + b"]}",
              b'{"instances": [[1, [2]], [3, 4]]}', b'{"inputs": "\\ud800"}']
    for body in bodies:
        try:
            parse(body)
        except ServingError as exc:
            assert exc.code == "INVALID_ARGUMENT"


# -- request parsing ---------------------------------------------------------------------------
def test_half_plus_three():
    name, inputs, row = parse(b'{"instances": [1.0, 2.0, 5.0]}')
    assert (name, row) == ("serving_default", True)
    assert inputs["x"].dtype == np.float32 and inputs["x"].tolist() == [1.0, 2.0, 5.0]
    out = encode_predict_response({"y": inputs["x"] / 2 + 3}, ["y"], row)
    assert out == b'{"predictions":[3.5,4.0,5.5]}'
    _, inputs, row = parse(b'{"inputs": [1, 2, 5]}')  # JSON ints are fine for floats
    assert not row and inputs["x"].dtype == np.float32
    assert encode_predict_response({"y": inputs["x"] / 2 + 3}, ["y"], row) == \
        b'{"outputs":[3.5,4.0,5.5]}'


def test_row_and_columnar_with_several_inputs():
    _, inputs, row = parse({"instances": [{"a": [1, 2], "b": 3}, {"a": [4, 5], "b": 6}]},
                           TWO_INPUTS)
    assert row and inputs["a"].dtype == np.float32 and inputs["a"].shape == (2, 2)
    assert inputs["b"].dtype == np.int32 and inputs["b"].tolist() == [3, 6]
    # columnar: each input its own leading dim; extra keys ignored
    _, inputs, row = parse({"inputs": {"a": [[1, 2]], "b": [1, 2, 3], "zz": 0}}, TWO_INPUTS)
    assert not row and inputs["a"].shape == (1, 2) and inputs["b"].shape == (3,)
    _, inputs, _ = parse({"inputs": {"x": [1, 2]}})  # a named object with a single input
    assert inputs["x"].tolist() == [1.0, 2.0]


def test_nan_infinity_tokens():
    _, inputs, _ = parse(b'{"instances": [NaN, Infinity, -Infinity, 1]}')
    x = inputs["x"]
    assert np.isnan(x[0]) and x[1] == np.inf and x[2] == -np.inf
    assert encode_predict_response({"y": x}, ["y"], True) == \
        b'{"predictions":[NaN,Infinity,-Infinity,1.0]}'


def test_bool_int_and_unsigned_inputs():
    sigs = signatures([spec("b", "bool", [None]), spec("i", "int64", [None]),
                       spec("u", "uint8", [None])])
    _, inputs, _ = parse({"inputs": {"b": [True, False], "i": [2 ** 62, -1], "u": [0, 255]}},
                         sigs)
    assert inputs["b"].dtype == bool and inputs["b"].tolist() == [True, False]
    assert inputs["i"].dtype == np.int64 and inputs["i"].tolist() == [2 ** 62, -1]
    assert inputs["u"].dtype == np.uint8
    assert "not of expected type: uint8" in fails({"inputs": {"b": [True], "i": [1], "u": [256]}},
                                                  sigs)


def test_strings_and_b64():
    sigs = signatures([spec("s", "string", [None])])
    _, inputs, _ = parse({"instances": ["héllo", {"b64": base64.b64encode(b"\x00\xff").decode()},
                                        {"b64": "QQ"}]}, sigs)  # unpadded, as absl allows
    assert inputs["s"].dtype == object and inputs["s"].tolist() == ["héllo".encode(), b"\x00\xff",
                                                                    b"A"]
    assert fails({"inputs": [{"b64": "!!"}]}, sigs) == "Unable to base64 decode"
    assert fails({"inputs": [{"b64": "QQ==", "x": 1}]}, sigs).endswith(
        "not formatted correctly for base64 data")
    assert fails({"inputs": ["a", 1]}, sigs).endswith("is not of expected type: string")
    # a lone b64 object is a scalar, not a named-inputs object
    _, inputs, _ = parse({"inputs": {"b64": "QQ=="}}, signatures([spec("s", "string", [])]))
    assert inputs["s"].shape == () and inputs["s"].item() == b"A"


def test_large_payload_is_vectorised():
    data = np.random.default_rng(0).random((256, 28, 28)).astype(np.float32)
    _, inputs, _ = parse(json.dumps({"instances": data.tolist()}).encode(), MNIST)
    np.testing.assert_array_equal(inputs["x"], data)


# -- responses ---------------------------------------------------------------------------------
def test_response_shapes():
    probs = np.array([[0.1, 0.9], [0.25, 0.75]], np.float32)
    ids = np.array([1, 0], np.int64)
    assert json.loads(encode_predict_response({"p": probs}, ["p"], True)) == \
        {"predictions": [[0.1, 0.9], [0.25, 0.75]]}
    assert json.loads(encode_predict_response({"p": probs, "id": ids}, ["p", "id"], True)) == \
        {"predictions": [{"p": [0.1, 0.9], "id": 1}, {"p": [0.25, 0.75], "id": 0}]}
    assert json.loads(encode_predict_response({"p": probs, "id": ids}, ["p", "id"], False)) == \
        {"outputs": {"p": [[0.1, 0.9], [0.25, 0.75]], "id": [1, 0]}}
    assert encode_predict_response({"s": np.float32(2.5)}, ["s"], False) == b'{"outputs":2.5}'


def test_response_batch_errors():
    with pytest.raises(ServingError, match="Tensor name: b has inconsistent batch size: 3 "
                                           "expecting: 2"):
        encode_predict_response({"a": np.zeros(2), "b": np.zeros(3)}, ["a", "b"], True)
    with pytest.raises(ServingError, match="has no shape information"):
        encode_predict_response({"a": np.float32(1)}, ["a"], True)
    # columnar outputs need not share a batch size
    encode_predict_response({"a": np.zeros(2), "b": np.zeros(3)}, ["a", "b"], False)


def test_bytes_and_string_outputs():
    out = np.array([b"\x00\x01", b"ok"], dtype=object)
    assert json.loads(encode_predict_response({"img_bytes": out, "label": out}, ["img_bytes",
                                                                                 "label"], False))\
        == {"outputs": {"img_bytes": [{"b64": "AAE="}, {"b64": "b2s="}],
                        "label": ["\x00\x01", "ok"]}}


def test_float_formatting_is_shortest_float32():
    x = np.array([0.1, 1 / 3, 1e-45, 3.4028235e38, -0.0, 16777216, 1e-5, 2.5e-20], np.float32)
    text = encode_predict_response({"y": x}, ["y"], False).decode()
    assert text == ('{"outputs":[0.1,0.33333334,1e-45,3.4028235e+38,-0.0,16777216.0,'
                    '0.00001,2.5e-20]}')
    # Non-finite values take the other writer: NaN and Infinity tokens, the same digits.
    x[1] = np.nan
    assert encode_predict_response({"y": x}, ["y"], False).decode() == (
        '{"outputs":[0.1,NaN,1e-45,3.4028235e+38,-0.0,16777216.0,1e-05,2.5e-20]}')
    f16 = np.array([0.1, 65504, 6e-8], np.float16)
    assert json.loads(encode_predict_response({"y": f16}, ["y"], False))["outputs"] == \
        [0.1, 65500.0, 6e-08]


float32_arrays = hnp.arrays(
    np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
    elements=st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True))


@settings(max_examples=150, deadline=None)
@given(float32_arrays, st.booleans())
def test_float32_round_trip_bit_exact(x, row_format):
    sigs = signatures([spec("x", "float32", [None] * x.ndim)])
    response = encode_predict_response({"y": x}, ["y"], row_format)
    key = b'{"predictions"' if row_format else b'{"outputs"'
    request = (b'{"instances"' if row_format else b'{"inputs"') + response[len(key):]
    back = parse(request, sigs)[1]["x"]
    assert back.dtype == np.float32 and back.shape == x.shape
    same = (back.view(np.uint32) == x.view(np.uint32)) | (np.isnan(back) & np.isnan(x))
    assert same.all()


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 20),
                  elements=st.floats(width=32, allow_nan=False, allow_infinity=False)))
def test_float32_text_is_shortest(x):
    tokens = encode_predict_response({"y": x}, ["y"], False).decode()[12:-2].split(",")
    assert len(tokens) == len(x)
    for token, value in zip(tokens, x):
        shortest = np.format_float_scientific(value, unique=True)
        assert _digits(token) <= _digits(shortest), (token, shortest)


def _digits(text):
    return len(text.lower().lstrip("-").split("e")[0].replace(".", "").strip("0")) or 1


# -- status and metadata -----------------------------------------------------------------------
def test_status_response():
    body = status_response([(1, "END", "OK", ""), (3, "END", "NOT_FOUND", "gone"),
                            (2, "AVAILABLE", "OK", "")])
    assert json.loads(body) == {"model_version_status": [
        {"version": "3", "state": "END",
         "status": {"error_code": "NOT_FOUND", "error_message": "gone"}},
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        {"version": "1", "state": "END", "status": {"error_code": "OK", "error_message": ""}}]}


def test_metadata_response_matches_spec_example():
    expected = {"model_spec": {"name": "mnist", "signature_name": "", "version": "2"},
                "metadata": {"signature_def": {"signature_def": {"serving_default": {
                    "inputs": {"x": {"dtype": "DT_FLOAT", "name": "x", "tensor_shape": {
                        "dim": [{"size": "-1", "name": ""}, {"size": "28", "name": ""},
                                {"size": "28", "name": ""}], "unknown_rank": False}}},
                    "outputs": {"probs": {"dtype": "DT_FLOAT", "name": "probs", "tensor_shape": {
                        "dim": [{"size": "-1", "name": ""}, {"size": "10", "name": ""}],
                        "unknown_rank": False}}},
                    "method_name": "tensorflow/serving/predict", "defaults": {}}}}}}
    body = metadata_response("mnist", 2, MNIST)
    assert json.loads(body) == expected
    assert body.count(b'"signature_def": {"signature_def"') == 1


def test_metadata_dtypes_and_unknown_rank():
    sigs = signatures([spec("s", "string", None), spec("i", "int64", []),
                       spec("h", "bfloat16", [3])])
    inputs = json.loads(metadata_response("m", 1, sigs))["metadata"]["signature_def"][
        "signature_def"]["serving_default"]["inputs"]
    assert inputs["s"]["dtype"] == "DT_STRING"
    assert inputs["s"]["tensor_shape"] == {"dim": [], "unknown_rank": True}
    assert inputs["i"]["dtype"] == "DT_INT64" and inputs["i"]["tensor_shape"]["dim"] == []
    assert inputs["h"]["dtype"] == "DT_BFLOAT16"
