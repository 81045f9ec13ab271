"""Review round 3: 64-bit models, request headers under a deadline, the bound port, and
wire-format edge cases (in process where no server is needed)."""

import asyncio
import json
import os
import socket
import time
import types

import jax
import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import HERE, WITH_CPU
from tests.serving.asgi import asgi_call
from tests.serving.harness import Server, export
from xlaflow.serving.app import App
from xlaflow.serving.loader import load_servable


class Wide(xf.Module):
    @xf.function(input_signature=[xf.TensorSpec([None], xf.int64, name="n"),
                                  xf.TensorSpec([None], xf.float64, name="d")])
    def serve(self, n, d):
        return {"n3": n * 3, "half": d / 2}


def _read_all(sock, limit_s):
    sock.settimeout(limit_s)
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("hardening")
    with jax.enable_x64(True):
        xf.saved_model.save(Wide(), str(work / "wide" / "1"), platforms=WITH_CPU)
    server = Server("--model_name=wide", f"--model_base_path={work / 'wide'}",
                    "--rest_api_timeout_in_ms=1000", cwd=str(work), system_port=True)
    server.wait(lambda: server.states("wide") == {1: "AVAILABLE"}, "the model to load")
    yield server
    assert server.stop() == 0


def test_the_bound_port_is_logged_when_the_system_picks_it(server):
    assert server.port != 0 and server.get("/v2/health/live")[0] == 200


def test_a_model_with_64_bit_tensors_is_served_without_truncation(server):
    big = 2 ** 40 + 1  # does not fit in 32 bits
    status, body = server.json("POST", "/v1/models/wide:predict",
                               {"inputs": {"n": [big, -3], "d": [1e300, 0.1]}})
    assert status == 200, body
    assert body["outputs"]["n3"] == [3 * big, -9]
    assert body["outputs"]["half"] == [5e299, 0.05]
    status, body = server.json("POST", "/v2/models/wide/infer", {"inputs": [
        {"name": "n", "shape": [1], "datatype": "INT64", "data": [big]},
        {"name": "d", "shape": [1], "datatype": "FP64", "data": [0.5]}]})
    assert status == 200, body
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["n3"]["datatype"] == "INT64" and outputs["n3"]["data"] == [3 * big]


def test_headers_that_do_not_arrive_in_time_get_a_408_and_the_connection_closes(server):
    with socket.create_connection(("127.0.0.1", server.port)) as slow:
        slow.sendall(b"POST /v1/models/wide:predict HTTP/1.1\r\nHost: x\r\n")  # unfinished
        start = time.monotonic()
        reply = _read_all(slow, 10)
    assert reply.startswith(b"HTTP/1.1 408 "), reply
    assert b"did not arrive in time" in reply
    assert 0.5 < time.monotonic() - start < 5
    with socket.create_connection(("127.0.0.1", server.port)) as idle:  # sends nothing
        assert _read_all(idle, 10).startswith(b"HTTP/1.1 408 ")
    # a request whose headers come in pieces within the deadline is answered
    with socket.create_connection(("127.0.0.1", server.port)) as steady:
        for piece in (b"GET /v1/models/wide HTTP/1.1\r\n", b"Host: x\r\n",
                      b"Connection: close\r\n\r\n"):
            steady.sendall(piece)
            time.sleep(0.2)
        assert _read_all(steady, 10).startswith(b"HTTP/1.1 200 ")
    assert server.get("/v1/models/wide")[0] == 200


def test_stray_bytes_between_requests_or_a_trickled_unread_body_get_the_deadline(server):
    with socket.create_connection(("127.0.0.1", server.port)) as stray:
        stray.sendall(b"GET /v1/models/wide HTTP/1.1\r\nHost: x\r\n\r\n")
        stray.settimeout(10)
        assert stray.recv(4096).startswith(b"HTTP/1.1 200 ")
        stray.sendall(b"\r\n")  # begins no request, but cancels uvicorn's keep-alive timer
        assert b"408 Request Timeout" in _read_all(stray, 10)
    with socket.create_connection(("127.0.0.1", server.port)) as trickle:
        trickle.sendall(b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        trickle.settimeout(10)
        assert trickle.recv(4096).startswith(b"HTTP/1.1 404 ")  # answered without the body
        start = time.monotonic()
        try:
            while time.monotonic() - start < 8:
                trickle.sendall(b"x")
                time.sleep(0.2)
        except OSError:
            pass  # closed by the server
        assert time.monotonic() - start < 5


def test_a_port_in_use_ends_the_server_before_any_model_loads(tmp_path):
    import subprocess
    import sys
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        export(str(tmp_path / "toy"), 1)
        done = subprocess.run(
            [sys.executable, "-m", "xlaflow.cli", "serve", f"--rest_api_port={port}",
             "--model_name=toy", f"--model_base_path={tmp_path / 'toy'}"],
            check=False, capture_output=True, text=True, timeout=120,
            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert done.returncode == 3, done.stderr[-2000:]
    assert "address already in use" in done.stderr.lower()
    assert "127.0.0.1" in done.stderr and "toy" not in done.stderr  # no load began


# -- in process -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_app(tmp_path_factory):
    base = tmp_path_factory.mktemp("toy")
    export(str(base), 1)
    servable = load_servable("toy", 1, str(base / "1"))

    class OneModel:
        def acquire(self, name, version=None, label=None):
            import contextlib
            if name != "toy":
                from xlaflow.serving.errors import ServingError
                raise ServingError("NOT_FOUND", f"Servable not found for request: {name}")
            return contextlib.nullcontext(servable)

    return App(OneModel(), cors=True)


def _call(app, method, path, body=b"", headers=()):
    return asyncio.run(asgi_call(app, method, path, body, headers))


def _infer(app, request, headers=()):
    status, _, body = _call(app, "POST", "/v2/models/toy/infer", json.dumps(request).encode(),
                            headers)
    return status, json.loads(body)


@pytest.mark.parametrize("datatype", [["FP32"], {}, 3])
def test_a_datatype_that_is_not_a_string_is_a_400(toy_app, datatype):
    status, body = _infer(toy_app, {"inputs": [
        {"name": "x", "shape": [1, 3], "datatype": datatype, "data": [1, 2, 3]}]})
    assert status == 400 and "unknown datatype" in body["error"]


def test_an_empty_list_of_requested_outputs_returns_them_all(toy_app):
    status, body = _infer(toy_app, {"inputs": [
        {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}],
        "outputs": []})
    assert status == 200 and [o["name"] for o in body["outputs"]] == ["y"]
    assert body["outputs"][0]["data"] == [2.0, 5.0, 10.0]


def test_cors_headers_on_any_case_of_the_v1_prefix(toy_app):
    for path in ("/v1/models/toy", "/V1/models/toy"):
        _, headers, _ = _call(toy_app, "GET", path)
        assert headers.get(b"access-control-allow-origin") == b"*", path


def test_a_version_beyond_int64_is_a_400_as_in_tf(toy_app):
    huge = "99999999999999999999"
    status, _, body = _call(toy_app, "GET", f"/v1/models/toy/versions/{huge}")
    assert status == 400
    assert json.loads(body)["error"] == f"Failed to convert version: {huge} to numeric."
    for path in (f"/v1/models/toy/versions/{'1' * 5000}", f"/v2/models/toy/versions/"
                 f"{'9' * 5000}/ready", f"/v1/models/toy/versions/{'0' * 5000}1/metadata"):
        status, _, body = _call(toy_app, "GET", path)
        if path.endswith("metadata"):  # leading zeros: version 1, which this app has
            assert status == 200, body
            continue
        assert status == 400 and b"Failed to convert version" in body, (path[:30], body)


def test_a_websocket_upgrade_is_refused_not_crashed(toy_app):
    sent = []

    async def main():
        async def send(message):
            sent.append(message)

        await toy_app({"type": "websocket", "path": "/v1/models/toy", "headers": []},
                      lambda: asyncio.sleep(0, {"type": "websocket.connect"}), send)

    asyncio.run(main())
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_header_values_in_messages_are_text_not_bytes_reprs(toy_app):
    status, body = _infer(toy_app, {"inputs": []},
                          [(b"inference-header-content-length", b"abc")])
    assert status == 400 and "received 'abc'" in body["error"], body
    status, body = _infer(toy_app, {"inputs": []}, [(b"content-encoding", b"br")])
    assert status == 400 and "Content-Encoding 'br'" in body["error"], body


def test_an_empty_batch_is_a_400_naming_the_input(toy_app):
    status, body = _infer(toy_app, {"inputs": [
        {"name": "x", "shape": [0, 3], "datatype": "FP32", "data": []}]})
    assert status == 400, body
    assert "input 'x'" in body["error"] and "[0, 3]" in body["error"] and \
        "at least 1" in body["error"], body


def test_an_internal_error_is_answered_in_json_and_logged(toy_app, caplog):
    broken = App(types.SimpleNamespace(), cors=False)  # no manager methods: a bug
    status, headers, body = _call(broken, "GET", "/v1/models/toy")
    assert status == 500 and headers[b"content-type"] == b"application/json"
    assert json.loads(body)["error"].startswith("internal error: AttributeError")
    assert "internal error answering GET /v1/models/toy" in caplog.text


def test_a_64_bit_signature_outside_64_bit_mode_says_what_to_do(tmp_path):
    path = str(tmp_path / "wide")
    with jax.enable_x64(True):
        xf.saved_model.save(Wide(), path, platforms=HERE)
    assert not jax.config.jax_enable_x64
    with pytest.raises(ValueError, match=r"int64 'n' of signature 'serving_default'.*"
                                         r"jax_enable_x64"):
        xf.saved_model.load(path)
    with jax.enable_x64(True):
        signature = xf.saved_model.load(path).signatures["serving_default"]
        out = signature(n=np.int64([2 ** 40]), d=np.float64([1.0]))
    with pytest.raises(ValueError, match=r"signature 'serving_default' has 64-bit"):
        signature(n=np.int64([1]), d=np.float64([1.0]))  # 64-bit mode is off again
    assert int(out["n3"][0]) == 3 * 2 ** 40
    assert os.path.isdir(path)


def test_requests_for_made_up_model_names_share_one_metric_series(toy_app):
    from xlaflow.serving.metrics import server_metrics

    class Models:
        def models(self):
            return ["toy"]

        def acquire(self, name, version=None, label=None):
            return toy_app.manager.acquire(name, version, label)

    metrics = server_metrics()
    app = App(Models(), metrics=metrics, registry=metrics.registry)
    for i in range(50):
        status, _, _ = _call(app, "POST", f"/v1/models/made-up-{i}:predict",
                             b'{"instances": [[1, 2, 3]]}')
        assert status == 404
    assert _call(app, "POST", "/v1/models/toy:predict", b'{"instances": [[1, 2, 3]]}')[0] == 200
    assert _call(app, "POST", "/v1/models/toy:predict", b'{"instances": [[1, 2]]}')[0] == 400
    text = metrics.registry.render()
    counts = [line for line in text.splitlines()
              if line.startswith(":tensorflow:serving:request_count{")]
    assert sorted(counts) == sorted([
        ':tensorflow:serving:request_count{model_name="<unknown>",status="NOT_FOUND"} 50',
        ':tensorflow:serving:request_count{model_name="toy",status="OK"} 1',
        ':tensorflow:serving:request_count{model_name="toy",status="INVALID_ARGUMENT"} 1'])


@pytest.mark.parametrize("request_head", [
    b"FOO /v1/models/wide HTTP/1.1\r\nHost: x\r\n\r\n",  # a method the parser does not know
    b"POST /v1/models/wide:predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /v2/models/wide/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Content-Length: 7\r\n\r\n{}",
])
def test_a_request_the_http_parser_refuses_gets_a_json_error(server, request_head):
    # Spec 1.2 and 3.2: every failure is {"error": ...} in JSON (tritonclient reads the
    # message from it). uvicorn answered these in text/plain.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request_head)
        reply = _read_all(sock, 10)
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 400 Bad Request", reply
    fields = dict(line.lower().split(b": ", 1) for line in lines[1:])
    assert fields[b"content-type"] == b"application/json"
    assert fields[b"connection"] == b"close"
    assert int(fields[b"content-length"]) == len(body)
    assert json.loads(body) == {"error": "Invalid HTTP request received."}
    assert server.get("/v1/models/wide")[0] == 200


@pytest.mark.parametrize("timeout_ms", ["0", "-5"])
def test_a_rest_timeout_of_zero_or_less_means_no_deadline(tmp_path, timeout_ms):
    # TF reads --rest_api_timeout_in_ms <= 0 as no deadline (RunOptions' timeout_in_ms);
    # here every predict was a 504 and a connection's headers were given no time at all.
    export(str(tmp_path / "toy"), 1)
    server = Server("--model_name=toy", f"--model_base_path={tmp_path / 'toy'}",
                    f"--rest_api_timeout_in_ms={timeout_ms}", cwd=str(tmp_path))
    try:
        server.wait(lambda: server.states("toy") == {1: "AVAILABLE"}, "the model to load")
        status, body = server.json("POST", "/v1/models/toy:predict", {"instances": [[1, 2, 3]]})
        assert (status, body) == (200, {"predictions": [[2.0, 5.0, 10.0]]})
        request = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32",
                               "data": [1, 2, 3]}]}
        status, body = server.json("POST", "/v2/models/toy/infer", request)
        assert status == 200 and body["outputs"][0]["data"] == [2.0, 5.0, 10.0]
        with socket.create_connection(("127.0.0.1", server.port)) as quiet:
            time.sleep(0.5)  # a connection that waits a little before its request
            quiet.sendall(b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert _read_all(quiet, 10).startswith(b"HTTP/1.1 200 ")
    finally:
        assert server.stop() == 0, server.read_log()
