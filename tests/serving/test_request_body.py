"""Request bodies on the wire: many small chunks, pipelined large bodies, over the limit,
a client leaving mid-body, 100-continue (a real server on 127.0.0.1); and, in process, when
the protocol pauses reading and wakes the app (uvicorn's HIGH_WATER_LIMIT flow control)."""

import asyncio
import itertools
import json
import socket
import time

import numpy as np
import pytest
import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.server import ServerState

from tests.serving.harness import expected, toy_server
from xlaflow.serving import http_protocol

LIMIT = 200_000  # --rest_api_max_body_bytes of the test server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("bodies")
    server = toy_server(work, f"--rest_api_max_body_bytes={LIMIT}",
                        "--rest_api_timeout_in_ms=10000")
    yield server
    assert server.stop() == 0


def _v2_request(x, extra_headers=""):
    """(head, body) of a v2 binary-tensor infer request for the toy model's input x."""
    header = json.dumps({"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "parameters": {"binary_data_output": True}}).encode()
    body = header + x.astype("<f4").tobytes()
    head = (f"POST /v2/models/toy/infer HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
            f"Inference-Header-Content-Length: {len(header)}\r\n{extra_headers}\r\n").encode()
    return head, body


def _read_response(reader):
    """(status, headers, body) of one response from a socket's file."""
    status = int(reader.readline().split()[1])
    headers = {}
    while (line := reader.readline().rstrip(b"\r\n")):
        name, value = line.decode().split(":", 1)
        headers[name.lower()] = value.strip()
    return status, headers, reader.read(int(headers.get("content-length", 0)))


def _output(headers, body):
    """The y output of a binary v2 infer response, as an array."""
    length = int(headers["inference-header-content-length"])
    (entry,) = json.loads(body[:length])["outputs"]
    return np.frombuffer(body[length:], "<f4").reshape(entry["shape"])


def _rows(n, seed):
    """n rows of quarters: the toy model's x * w + 1 is exact for them (no rounding)."""
    return np.random.default_rng(seed).integers(-400, 400, (n, 3)).astype(np.float32) / 4


def _metric(server, status):
    _, data = server.get("/metrics")
    prefix = f':tensorflow:serving:request_count{{model_name="toy",status="{status}"}}'
    return sum(float(line.rsplit(" ", 1)[1]) for line in data.decode().splitlines()
               if line.startswith(prefix))


def _connect(server):
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each piece its own segment
    return conn


def test_a_body_in_many_small_chunks_is_answered_whole(server):
    x = _rows(7000, 0)  # 84 KB of tensor: past the high-water mark, so reading pauses too
    head, body = _v2_request(x)
    with _connect(server) as conn, conn.makefile("rb") as reader:
        conn.sendall(head)
        for i in range(0, len(body), 1000):
            conn.sendall(body[i:i + 1000])
            if i % 16000 == 0:
                time.sleep(0.002)  # let the server read what came so far on its own
        status, headers, data = _read_response(reader)
        assert status == 200, data
        np.testing.assert_array_equal(_output(headers, data), expected(x, 1))


def test_pipelined_large_bodies_are_answered_in_order(server):
    xs = [_rows(6000, seed) for seed in (1, 2, 3)]
    with _connect(server) as conn, conn.makefile("rb") as reader:
        conn.sendall(b"".join(b"".join(_v2_request(x)) for x in xs))  # in one go
        for x in xs:
            status, headers, data = _read_response(reader)
            assert status == 200, data
            np.testing.assert_array_equal(_output(headers, data), expected(x, 1))


def test_a_chunked_body_over_the_limit_is_a_413_and_the_server_keeps_serving(server):
    before = _metric(server, "RESOURCE_EXHAUSTED")
    piece = b"7" * 16384
    with _connect(server) as conn, conn.makefile("rb") as reader:
        conn.sendall(b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3 * LIMIT // len(piece)):
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.sendall(b"0\r\n\r\n")
        status, headers, data = _read_response(reader)
        assert status == 413 and headers["connection"] == "close"
        assert f"exceeds the limit of {LIMIT} bytes" in json.loads(data)["error"]
        assert reader.read() == b""  # and the connection is closed
    assert _metric(server, "RESOURCE_EXHAUSTED") == before + 1
    x = _rows(4, 4)
    status, body = server.json("POST", "/v1/models/toy:predict", {"instances": x.tolist()})
    assert status == 200
    np.testing.assert_array_equal(np.float32(body["predictions"]), expected(x, 1))


@pytest.mark.parametrize("sent", [30_000, 90_000])  # below and past the high-water mark
def test_a_client_leaving_mid_body_is_cancelled_and_the_server_keeps_serving(server, sent):
    before = _metric(server, "CANCELLED")
    head, body = _v2_request(_rows(10_000, 5))
    with _connect(server) as conn:
        conn.sendall(head + body[:sent])
        time.sleep(0.2)
    server.wait(lambda: _metric(server, "CANCELLED") == before + 1, "the request cancelled",
                timeout=10)
    x = _rows(9000, 6)
    with _connect(server) as conn, conn.makefile("rb") as reader:
        conn.sendall(b"".join(_v2_request(x)))
        status, headers, data = _read_response(reader)
    assert status == 200
    np.testing.assert_array_equal(_output(headers, data), expected(x, 1))


def test_expect_100_continue_gets_its_interim_answer_before_the_body(server):
    x = _rows(6000, 7)
    head, body = _v2_request(x, "Expect: 100-continue\r\n")
    with _connect(server) as conn, conn.makefile("rb") as reader:
        conn.sendall(head)
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert reader.readline() == b"\r\n"
        conn.sendall(body)
        status, headers, data = _read_response(reader)
    assert status == 200
    np.testing.assert_array_equal(_output(headers, data), expected(x, 1))


# -- in process: flow control --------------------------------------------------------------
class _Transport:
    def __init__(self):
        self.events, self.closed = [], False

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 8000) if name in ("sockname", "peername") else default

    def write(self, data):
        self.events.append("write")

    def pause_reading(self):
        self.events.append("pause")

    def resume_reading(self):
        self.events.append("resume")

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True


def _feeding(pieces):
    """The transport's events and the app's received messages (as (size, more_body)) after
    `pieces` of one request are fed to our protocol, the app running between pieces."""
    received = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            received.append((len(message["body"]), message["more_body"]))
            body += message["body"]
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def main():
        config = uvicorn.Config(app, http=http_protocol.protocol(30), lifespan="off")
        config.load()
        proto = config.http_protocol_class(config=config, server_state=ServerState(),
                                           app_state={})
        transport = _Transport()
        proto.connection_made(transport)
        for piece in pieces:
            proto.data_received(piece)
            for _ in range(5):  # the app's task runs as far as it can
                await asyncio.sleep(0)
        proto.connection_lost(None)
        return transport.events

    return asyncio.run(main()), received


def _post(size):
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size + body


def test_a_body_arriving_whole_is_one_message_and_reading_never_pauses():
    events, received = _feeding([_post(3 * HIGH_WATER_LIMIT)])
    assert received == [(3 * HIGH_WATER_LIMIT, False)]
    assert events == ["write"]


def test_a_body_below_the_high_water_mark_in_pieces_wakes_the_app_once():
    request = _post(HIGH_WATER_LIMIT)
    events, received = _feeding([request[i:i + 5000] for i in range(0, len(request), 5000)])
    assert received == [(HIGH_WATER_LIMIT, False)]
    assert events == ["write"]


def test_an_unfinished_body_past_the_high_water_mark_pauses_reading_until_read():
    size = 2 * HIGH_WATER_LIMIT
    request = _post(size)
    head = len(request) - size
    third = head + HIGH_WATER_LIMIT // 2 + 1
    cuts = [0, third, 2 * third - head, len(request) - 10, len(request)]
    events, received = _feeding([request[a:b] for a, b in itertools.pairwise(cuts)])
    # the second piece takes the waiting bytes past the mark: reading pauses, the app takes
    # them and so resumes reading; the rest waits for the end of the body
    first = 2 * third - 2 * head
    assert received == [(first, True), (size - first, False)]
    assert events == ["pause", "resume", "write"]
