"""`xlaflow serve` as a real process on 127.0.0.1: both protocols, version transitions,
hot swap under load, corrupt versions, batching and bad input (each followed by a success).
"""

import json
import os
import shutil
import socket
import threading

import numpy as np
import pytest

from tests.serving.harness import Server, expected, export, toy_server

pytestmark = pytest.mark.slow

X = [[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]


def _start(work):
    base = str(work / "models" / "toy")
    export(base, 1)
    server = Server("--model_name=toy", f"--model_base_path={base}",
                    "--max_num_load_retries=0", cwd=str(work))
    server.wait(lambda: server.states("toy").get(1) == "AVAILABLE", "version 1")
    return server, base


@pytest.fixture
def served(tmp_path):
    """A server of its own, for a test that changes its versions or its base path."""
    server, base = _start(tmp_path)
    yield server, base
    assert server.stop() == 0, server.read_log()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One server (a process start, ~2 s) for the tests that only send it requests and
    leave its versions and files alone; each bad-input case then also shows that the
    same process keeps serving after every earlier one."""
    server, base = _start(tmp_path_factory.mktemp("shared"))
    yield server, base
    assert server.stop() == 0, server.read_log()


def ok_predict(server, version=1, path="/v1/models/toy:predict"):
    status, body = server.json("POST", path, {"instances": X})
    assert status == 200, body
    np.testing.assert_array_equal(np.float32(body["predictions"]), expected(X, version))


def test_tf_serving_rest_endpoints(shared):
    server, _ = shared
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


def test_open_inference_protocol(shared):
    server, _ = shared
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
                                       "data": [v for row in X for v in row]}]}
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
def test_bad_input_gets_a_4xx_and_the_server_keeps_serving(shared, case):
    server, _ = shared
    method, path, body, code, message = BAD[case]
    status, data, headers = server.request(method, path, body)
    assert status == code, data
    assert message in json.loads(data)["error"]
    assert headers["content-type"].startswith("application/json")
    ok_predict(server)


def test_oversized_body_is_refused_before_reading(tmp_path):
    server = toy_server(tmp_path, "--rest_api_max_body_bytes=1000")
    try:
        status, data, _ = server.request("POST", "/v1/models/toy:predict",
                                         b'{"instances": [' + b"[1,2,3]," * 400 + b"[1,2,3]]}")
        assert status == 413 and "exceeds the limit" in json.loads(data)["error"]
        # A client that sends all of a large body before reading still gets the 413 (a
        # lingering close), not a connection reset.
        for _ in range(3):
            head = _send_all_then_read(server.port, "/v1/models/toy:predict", 16 << 20)
            assert head.startswith(b"HTTP/1.1 413"), head
        assert _metric(server, ':tensorflow:serving:request_count{model_name="toy",'
                               'status="RESOURCE_EXHAUSTED"}') == 4
        ok_predict(server)
    finally:
        server.stop()


def _send_all_then_read(port, path, size):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        chunk = b"0" * (1 << 20)
        for _ in range(size // len(chunk)):
            conn.sendall(chunk)
        return conn.recv(65536)


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
    assert status == 200  # the version's status is found; its failure is in the body
    assert body["model_version_status"][0]["status"]["error_code"] == "DATA_LOSS"
    assert server.states("toy")[2] == "AVAILABLE"
    ok_predict(server, version=2)
    # a non-numeric sibling is ignored; removing v3 and v2 brings v1 back
    os.makedirs(os.path.join(base, "4.partial-x"))
    shutil.rmtree(os.path.join(base, "3"))
    shutil.rmtree(os.path.join(base, "2"))
    # v1 loads before v2 unloads (availability first), so until v2 has gone a request
    # without a version still reaches v2, the latest available: wait for both
    server.wait(lambda: server.states("toy").get(1) == "AVAILABLE" and
                server.states("toy").get(2) != "AVAILABLE", "v1 to come back, v2 to go")
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
    server = toy_server(tmp_path, batching=(
        "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 20000 }\n"
        "allowed_batch_sizes: 4\nallowed_batch_sizes: 16\n"))
    try:
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
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


CONFIG = """
model_config_list {
  config {
    name: 'toy'
    base_path: '%s'
    model_platform: 'xlaflow'
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: 'stable' value: 1 }
    version_labels { key: 'ghost' value: 42 }
  }
  config { name: "other", base_path: "%s", model_version_policy { all {} } }
}
"""


def test_config_file_several_models_policies_and_labels(tmp_path):
    toy, other = str(tmp_path / "toy"), str(tmp_path / "other")
    for base, version in ((toy, 1), (toy, 2), (toy, 3), (other, 5), (other, 6)):
        export(base, version)
    # Only names that are whole ASCII integers are versions.
    for odd in ("\uff18", "7\n"):
        shutil.copytree(os.path.join(other, "5"), os.path.join(other, odd))
    (tmp_path / "models.config").write_text(CONFIG % (toy, other))
    server = Server(f"--model_config_file={tmp_path / 'models.config'}", cwd=str(tmp_path))
    try:
        server.wait(lambda: server.states("toy") == {2: "AVAILABLE", 1: "AVAILABLE"} and
                    server.states("other") == {6: "AVAILABLE", 5: "AVAILABLE"}, "all loads")
        # A startup label naming a version that is not there is refused and logged.
        status, body = server.json("POST", "/v1/models/toy/labels/ghost:predict",
                                   {"instances": X})
        assert status == 400 and "Unrecognized servable version label: ghost" in body["error"]
        assert "label 'ghost' names version 42" in server.read_log()
        ok_predict(server, version=2)  # latest of the specific versions, never 3
        ok_predict(server, version=1, path="/v1/models/toy/labels/stable:predict")
        ok_predict(server, version=5, path="/v1/models/other/versions/5:predict")
        status, body = server.json("GET", "/v1/models/toy/labels/stable")
        assert status == 200 and body["model_version_status"][0]["version"] == "1"
    finally:
        server.stop()


def test_a_config_with_an_unknown_field_stops_the_server_at_once(tmp_path):
    (tmp_path / "models.config").write_text(
        "model_config_list { config { name: 'a' base_path: '/x' colour: 'red' } }\n")
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "xlaflow.cli", "serve",
                           f"--model_config_file={tmp_path / 'models.config'}"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "colour" in done.stderr and "line 1" in done.stderr


def test_an_emptied_base_path_keeps_the_last_versions_serving(served):
    server, base = served
    shutil.rmtree(os.path.join(base, "1"))  # the files stay open: the servable is loaded
    import time
    time.sleep(1.0)  # several polls
    assert server.states("toy") == {1: "AVAILABLE"}
    ok_predict(server)


def test_full_batch_queue_answers_503_and_sigterm_finishes_in_flight_requests(tmp_path):
    base = str(tmp_path / "toy")
    export(base, 1)
    (tmp_path / "batching.txt").write_text(
        "max_batch_size { value: 2 }\nbatch_timeout_micros { value: 1500000 }\n"
        "max_enqueued_batches { value: 1 }\nallowed_batch_sizes: 2\n")
    server = Server("--model_name=toy", f"--model_base_path={base}", "--enable_batching",
                    f"--batching_parameters_file={tmp_path / 'batching.txt'}",
                    cwd=str(tmp_path))
    server.wait(lambda: server.states("toy").get(1) == "AVAILABLE", "version 1")
    first = []
    waiting = threading.Thread(target=lambda: first.append(server.json(
        "POST", "/v1/models/toy:predict", {"instances": [X[0]]})))
    waiting.start()  # one row waits 1.5 s for a second; the bound is one batch of two rows
    import time
    time.sleep(0.5)
    status, body = server.json("POST", "/v1/models/toy:predict", {"instances": X})
    assert status == 503 and "queue to which this task was submitted is full" in body["error"]
    assert server.stop() == 0  # SIGTERM while the first request waits in its batch
    waiting.join()
    assert first[0][0] == 200
    np.testing.assert_array_equal(np.float32(first[0][1]["predictions"]),
                                  expected([X[0]], 1))


TRITON_CLIENT = """
import sys, numpy as np
import tritonclient.http as httpclient
client = httpclient.InferenceServerClient(url=sys.argv[1])
assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("toy")
assert client.get_model_metadata("toy")["inputs"] == [
    {"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
x = np.float32([[1, 2, 3], [4, 5, 6]])
binary = httpclient.InferInput("x", [2, 3], "FP32")
binary.set_data_from_numpy(x)                       # the client's default: binary tensors
as_json = httpclient.InferInput("x", [2, 3], "FP32")
as_json.set_data_from_numpy(x, binary_data=False)
outputs = [client.infer("toy", [binary]).as_numpy("y"),
           client.infer("toy", [as_json], request_id="r7", outputs=[
               httpclient.InferRequestedOutput("y", binary_data=False)]).as_numpy("y"),
           client.infer("toy", [binary], model_version="1", outputs=[
               httpclient.InferRequestedOutput("y", binary_data=True)]).as_numpy("y")]
try:
    client.get_model_metadata("nope")
    raise SystemExit("an unknown model was found")
except httpclient.InferenceServerException as exc:
    assert exc.status() == "404", exc.status()
np.save(sys.argv[2], np.stack(outputs))
"""


def test_an_unchanged_tritonclient_works(shared, tmp_path):
    import subprocess
    import sys
    server, _ = shared
    (tmp_path / "client.py").write_text(TRITON_CLIENT)
    done = subprocess.run([sys.executable, str(tmp_path / "client.py"),
                           f"127.0.0.1:{server.port}", str(tmp_path / "out.npy")],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for out in np.load(tmp_path / "out.npy"):
        np.testing.assert_array_equal(out, expected([[1, 2, 3], [4, 5, 6]], 1))
