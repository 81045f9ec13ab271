"""Deviations from TF Serving found in review, each checked against a real `xlaflow serve`
process."""

import gzip
import json
import threading
import time
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import WITH_CPU
from tests.serving.harness import Server, expected, export

pytestmark = pytest.mark.slow

X = [[1.0, 2.0, 3.0]]


class Slow(xf.Module):
    """y = x, after max(x[:, 0]) rounds of a 128x128 matmul (~0.1 ms each on CPU): a
    request says how long its batch keeps a batch thread busy; warm-up (zeros) is quick."""

    @xf.function(input_signature=[xf.TensorSpec([None, 3], xf.float32, name="x")])
    def serve(self, x):
        rounds = jnp.max(x[:, 0]).astype(jnp.int32)
        m = jnp.full((128, 128), 1e-3, jnp.float32)
        _, a = jax.lax.while_loop(lambda c: c[0] < rounds,
                                  lambda c: (c[0] + 1, jnp.tanh(c[1] @ m)), (0, m))
        return {"y": x + 0 * a[0, 0]}


def _post_later(server, path, body, into):
    """POST on a thread; `into` gets (status, reply, when it was answered)."""
    def post():
        status, reply = server.json("POST", path, body)
        into.append((status, reply, time.monotonic()))

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def test_a_batch_running_on_a_thread_does_not_count_toward_max_enqueued_batches(tmp_path):
    xf.saved_model.save(Slow(), str(tmp_path / "slow" / "1"), platforms=WITH_CPU)
    (tmp_path / "batching.txt").write_text(
        "max_batch_size { value: 8 }\nmax_enqueued_batches { value: 1 }\n"
        "num_batch_threads { value: 1 }\n")
    server = Server("--model_name=slow", f"--model_base_path={tmp_path / 'slow'}",
                    "--enable_batching", f"--batching_parameters_file={tmp_path / 'batching.txt'}",
                    cwd=str(tmp_path))
    path = "/v1/models/slow:predict"
    try:
        server.wait(lambda: server.states("slow").get(1) == "AVAILABLE", "version 1")
        start = time.monotonic()  # how fast rounds go here: the first batch takes ~4 s
        assert server.json("POST", path, {"instances": [[2000.0, 0.0, 0.0]]})[0] == 200
        rounds = min(2000 * 4.0 / (time.monotonic() - start), 1e6)
        first, one, eight = [], [], []
        threads = [_post_later(server, path, {"instances": [[rounds, 1.0, 2.0]] * 8}, first)]
        time.sleep(0.5)
        # TF: the batch on the thread is not enqueued, so the queue (one batch of 8 rows)
        # takes 1 row, and refuses 8 more: whichever of the two comes second is refused.
        threads.append(_post_later(server, path, {"instances": [[0.0, 5.0, 6.0]]}, one))
        time.sleep(0.5)
        threads.append(_post_later(server, path, {"instances": [[0.0, 1.0, 2.0]] * 8}, eight))
        for thread in threads:
            thread.join(120)
        assert first[0][0] == 200 and sorted([one[0][0], eight[0][0]]) == [200, 503], \
            (first, one, eight)
        refused = one if one[0][0] == 503 else eight
        assert "queue to which this task was submitted is full" in refused[0][1]["error"]
        assert refused[0][2] < first[0][2], "the first batch ended before the queue filled"
        if one[0][0] == 200:
            np.testing.assert_array_equal(one[0][1]["predictions"], [[0.0, 5.0, 6.0]])
    finally:
        assert server.stop() == 0, server.read_log()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """TF's docker entrypoint passes --port=8500; --num_load_threads is a TF flag too."""
    work = tmp_path_factory.mktemp("parity")
    export(str(work / "toy"), 1)
    server = Server("--model_name=toy", f"--model_base_path={work / 'toy'}", "--port=8500",
                    "--num_load_threads=4", "--rest_api_max_body_bytes=100000",
                    cwd=str(work))
    server.wait(lambda: server.states("toy") == {1: "AVAILABLE"}, "version 1")
    yield server
    assert server.stop() == 0, server.read_log()


def test_tf_docker_flags_are_accepted_and_grpc_is_said_to_be_absent(served):
    assert "--port=8500 ignored: xlaflow serves no gRPC" in served.read_log()


def _compressed(server, path, body, encoding):
    status, data, _ = server.request("POST", path, body, {"Content-Encoding": encoding})
    return status, json.loads(data)


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "deflate", "gzip, identity"])
def test_compressed_bodies_are_inflated_on_v1_and_v2(served, encoding):
    def pack(text):
        data = text.encode()
        return zlib.compress(data) if encoding == "deflate" else gzip.compress(data)

    status, body = _compressed(served, "/v1/models/toy:predict",
                               pack(json.dumps({"instances": X})), encoding)
    assert status == 200, body
    np.testing.assert_array_equal(np.float32(body["predictions"]), expected(X, 1))
    request = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": X[0]}]}
    status, body = _compressed(served, "/v2/models/toy/infer", pack(json.dumps(request)),
                               encoding)
    assert status == 200, body
    np.testing.assert_array_equal(np.float32(body["outputs"][0]["data"]),
                                  expected(X, 1)[0])


def test_bad_or_oversized_compressed_bodies_are_4xx(served):
    path = "/v1/models/toy:predict"
    bomb = gzip.compress(b" " * 1_000_000)  # 1 KB on the wire, 1 MB inflated
    assert len(bomb) < 100_000
    status, body = _compressed(served, path, bomb, "gzip")
    assert status == 413 and "inflates (Content-Encoding: gzip) to more than the limit " \
        "of 100000 bytes" in body["error"]
    status, body = _compressed(served, path, gzip.compress(b"{}"), "br")
    assert status == 400 and body["error"] == \
        "Content-Encoding 'br' is not supported; expected gzip, deflate or identity"
    status, body = _compressed(served, path, b"not gzip at all", "gzip")
    assert status == 400 and "not valid gzip data" in body["error"]
    status, body = _compressed(served, path, gzip.compress(b'{"instances": [[1]]}')[:-12],
                               "gzip")
    assert status == 400 and "truncated" in body["error"]
    status, body = _compressed(served, "/v2/models/toy/infer", b"{}", "br")
    assert status == 400 and "Content-Encoding 'br'" in body["error"]
    status, body = served.json("POST", path, {"instances": X})  # still serving
    assert status == 200


def test_status_of_a_version_of_an_unknown_model_names_the_version(served):
    assert served.json("GET", "/v1/models/nope/versions/3") == (
        404, {"error": "Could not find version 3 of model nope"})
    assert served.json("GET", "/v1/models/toy/versions/3") == (
        404, {"error": "Could not find version 3 of model toy"})
    assert served.json("GET", "/v1/models/nope") == (
        404, {"error": "Could not find any versions of model nope"})
    assert served.json("GET", "/v1/models/nope/labels/stable") == (
        400, {"error": "Unrecognized servable version label: stable"})


def test_head_on_the_v2_health_checks_answers_as_get(served):
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/toy/ready"):
        status, data, _ = served.request("HEAD", path)
        assert (status, data) == (200, b""), path
    status, data, _ = served.request("HEAD", "/v2/models/nope/ready")
    assert status == 404 and data == b""


def test_a_negative_poll_wait_never_lists_the_base_path(tmp_path):
    export(str(tmp_path / "toy"), 1)
    server = Server("--model_name=toy", f"--model_base_path={tmp_path / 'toy'}",
                    "--file_system_poll_wait_seconds=-1", cwd=str(tmp_path))
    try:
        time.sleep(3)  # a poll at startup would have loaded version 1 by now
        assert server.json("GET", "/v1/models/toy") == (
            404, {"error": "Could not find any versions of model toy"})
        assert "the base paths are never listed" in server.read_log()
    finally:
        assert server.stop() == 0, server.read_log()


def test_num_load_threads_must_be_a_count():
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "xlaflow.cli", "serve",
                           "--num_load_threads=-2"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0 and \
        "--num_load_threads: expected an integer >= 0; received '-2'" in done.stderr
