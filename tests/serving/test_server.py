"""`xlaflow serve` as a real process on 127.0.0.1: both protocols, version transitions,
hot swap under load, corrupt versions, batching and bad input (each followed by a success).
"""

import json
import os
import shutil
import threading

import numpy as np
import pytest

from tests.serving.harness import Server, expected, export

pytestmark = pytest.mark.slow

X = [[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]


@pytest.fixture
def served(tmp_path):
    base = str(tmp_path / "models" / "toy")
    export(base, 1)
    server = Server("--model_name=toy", f"--model_base_path={base}",
                    "--max_num_load_retries=0", cwd=str(tmp_path))
    server.wait(lambda: server.states("toy").get(1) == "AVAILABLE", "version 1")
    yield server, base
    assert server.stop() == 0, server.read_log()


def ok_predict(server, version=1, path="/v1/models/toy:predict"):
    status, body = server.json("POST", path, {"instances": X})
    assert status == 200, body
    np.testing.assert_array_equal(np.float32(body["predictions"]), expected(X, version))


def test_tf_serving_rest_endpoints(served):
    server, _ = served
    status, body = server.json("GET", "/v1/models/toy")
    assert (status, body) == (200, {"model_version_status": [{
        "version": "1", "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]})
    status, body = server.json("GET", "/v1/models/toy/versions/1/metadata")
    assert status == 200
    inputs = body["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert inputs["x"]["dtype"] == "DT_FLOAT"
    assert inputs["x"]["tensor_shape"]["dim"][0]["size"] == "-1"
    ok_predict(server)
    ok_predict(server, path="/v1/models/toy/versions/1:predict")
    status, body = server.json("POST", "/v1/models/toy:predict", {"inputs": {"x": X}})
    assert status == 200
    np.testing.assert_array_equal(np.float32(body["outputs"]), expected(X, 1))
    status, body = server.json("GET", "/v1/models/nope")
    assert status == 404 and body["error"] == "Could not find any versions of model nope"
    status, body = server.json("POST", "/v1/models/toy/versions/9:predict", {"instances": X})
    assert status == 404 and "Specific(toy, 9)" in body["error"]


def test_open_inference_protocol(served):
    server, _ = served
    assert server.get("/v2/health/live")[0] == 200
    assert server.get("/v2/health/ready")[0] == 200
    assert server.get("/v2/models/toy/ready")[0] == 200
    assert server.get("/v2/models/nope/ready")[0] >= 400
    status, body = server.json("GET", "/v2")
    assert status == 200 and body["name"] == "xlaflow"
    status, body = server.json("GET", "/v2/models/toy")
    assert status == 200 and body["inputs"] == [{"name": "x", "datatype": "FP32",
                                                 "shape": [-1, 3]}]
    request = {"id": "r1", "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32",
                                       "data": sum(X, [])}]}
    status, body = server.json("POST", "/v2/models/toy/versions/1/infer", request)
    assert status == 200 and body["id"] == "r1" and body["model_version"] == "1"
    (out,) = body["outputs"]
    assert out["name"] == "y" and out["shape"] == [2, 3]
    np.testing.assert_array_equal(np.float32(out["data"]).reshape(2, 3), expected(X, 1))
    # the binary tensor extension, as tritonclient sends it by default
    raw = np.float32(X).tobytes()
    header = json.dumps({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}]}).encode()
    status, data, _ = server.request("POST", "/v2/models/toy/infer", header + raw,
                                     {"Inference-Header-Content-Length": str(len(header))})
    assert status == 200, data
    np.testing.assert_array_equal(
        np.float32(json.loads(data)["outputs"][0]["data"]).reshape(2, 3), expected(X, 1))


BAD = [
    ("POST", "/v1/models/toy:predict", b"", 400, "JSON Parse error: The document is empty"),
    ("POST", "/v1/models/toy:predict", b"{nope", 400, "JSON Parse error"),
    ("POST", "/v1/models/toy:predict", b'{"instances": [[1, 2]]}', 400, "'x'"),
    ("POST", "/v1/models/toy:predict", b'{"instances": [["a", "b", "c"]]}', 400, "expected"),
    ("POST", "/v1/models/toy:predict", b'{"instances": [[1,2,3]], "signature_name": "zz"}',
     400, 'Serving signature name: "zz" not found'),
    ("POST", "/v1/models/toy:explode", b"{}", 400, "Malformed request"),
    ("GET", "/v1/models/toy/version/1", None, 400, "Malformed request"),
    ("POST", "/v1/models/..%2F..%2Fetc:predict", b'{"instances": [[1,2,3]]}', 404, "Servable"),
    ("POST", "/v1/models/toy/labels/stable:predict", b'{"instances": [[1,2,3]]}', 400,
     "Unrecognized servable version label: stable"),
    ("POST", "/v2/models/toy/infer", b'{"inputs": [{"name": "x", "shape": [1, 3], '
     b'"datatype": "INT64", "data": [1, 2, 3]}]}', 400, ""),
    ("POST", "/v2/models/toy/infer", b'{"inputs": [{"name": "x", "shape": [2, 3], '
     b'"datatype": "FP32", "data": [1, 2, 3]}]}', 400, ""),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_input_gets_a_4xx_and_the_server_keeps_serving(served, case):
    server, _ = served
    method, path, body, code, message = BAD[case]
    status, data, headers = server.request(method, path, body)
    assert status == code, data
    assert message in json.loads(data)["error"]
    assert headers["content-type"].startswith("application/json")
    ok_predict(server)


def test_oversized_body_is_refused_before_reading(tmp_path):
    base = str(tmp_path / "toy")
    export(base, 1)
    server = Server("--model_name=toy", f"--model_base_path={base}",
                    "--rest_api_max_body_bytes=1000", cwd=str(tmp_path))
    try:
        server.wait(lambda: server.states("toy").get(1) == "AVAILABLE", "version 1")
        status, data, _ = server.request("POST", "/v1/models/toy:predict",
                                         b'{"instances": [' + b"[1,2,3]," * 400 + b"[1,2,3]]}")
        assert status == 413 and "exceeds the limit" in json.loads(data)["error"]
        ok_predict(server)
    finally:
        server.stop()


def test_versions_come_and_go_and_a_corrupt_one_never_replaces_the_serving_one(served):
    server, base = served
    export(base, 2)
    server.wait(lambda: server.states("toy") == {2: "AVAILABLE", 1: "END"}, "v2 to replace v1")
    ok_predict(server, version=2)
    # a partial version 3 (its manifest missing) fails to load; v2 keeps serving
    shutil.copytree(os.path.join(base, "2"), os.path.join(base, "3"))
    os.remove(os.path.join(base, "3", "xlaflow_export.json"))
    server.wait(lambda: server.states("toy").get(3) == "END", "v3 to fail")
    status, body = server.json("GET", "/v1/models/toy/versions/3")
    assert body["model_version_status"][0]["status"]["error_code"] == "DATA_LOSS"
    assert server.states("toy")[2] == "AVAILABLE"
    ok_predict(server, version=2)
    # a non-numeric sibling is ignored; removing v3 and v2 brings v1 back
    os.makedirs(os.path.join(base, "4.partial-x"))
    shutil.rmtree(os.path.join(base, "3"))
    shutil.rmtree(os.path.join(base, "2"))
    server.wait(lambda: server.states("toy").get(1) == "AVAILABLE", "v1 to come back")
    ok_predict(server, version=1)


def test_hot_swap_under_load_fails_no_request(served):
    server, base = served
    failures, done, versions = [], threading.Event(), set()

    def client():
        while not done.is_set():
            status, body = server.json("POST", "/v1/models/toy:predict", {"instances": X})
            if status != 200:
                failures.append((status, body))
            else:
                versions.add(float(body["predictions"][0][0]) - 1.0)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        export(base, 2)
        server.wait(lambda: server.states("toy").get(1) == "END", "the swap")
        server.wait(lambda: 2.0 in versions, "answers from v2")
    finally:
        done.set()
        for t in threads:
            t.join()
    assert failures == []
    assert versions == {1.0, 2.0}


def test_batching_merges_requests_without_recompiling(tmp_path):
    base = str(tmp_path / "toy")
    export(base, 1)
    (tmp_path / "batching.txt").write_text(
        "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 20000 }\n"
        "allowed_batch_sizes: 4\nallowed_batch_sizes: 16\n")
    (tmp_path / "monitoring.txt").write_text(
        'prometheus_config { enable: true, path: "/metrics" }\n')
    server = Server("--model_name=toy", f"--model_base_path={base}", "--enable_batching",
                    f"--batching_parameters_file={tmp_path / 'batching.txt'}",
                    f"--monitoring_config_file={tmp_path / 'monitoring.txt'}",
                    cwd=str(tmp_path))
    try:
        server.wait(lambda: server.states("toy").get(1) == "AVAILABLE", "version 1")
        compiled = _metric(server, ":xlaflow:serving:compiled_programs")
        results = []

        def client(rows):
            x = [[float(rows), 1.0, 2.0]] * rows
            status, body = server.json("POST", "/v1/models/toy:predict", {"instances": x})
            results.append(status == 200 and np.array_equal(
                np.float32(body["predictions"]), expected(x, 1)))

        threads = [threading.Thread(target=client, args=(1 + i % 3,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [True] * 24
        runs = _metric(server, ":tensorflow:serving:batching_session:wrapped_run_count")
        assert 0 < runs < 24  # merged
        assert _metric(server, ":xlaflow:serving:compiled_programs") == compiled
    finally:
        server.stop()


def _metric(server, name):
    status, data = server.get("/metrics")
    assert status == 200
    total = 0.0
    for line in data.decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total
