"""The metrics each predict updates (its series are looked up once per model) and the one
deadline over a request's body and answer, in process: counts are checked against the
requests sent."""

import asyncio
import contextlib
import json
import threading

import numpy as np
import pytest

from tests.serving.harness import expected, export
from xlaflow.serving import metrics as metrics_lib
from xlaflow.serving.app import App
from xlaflow.serving.batching import BatchScheduler
from xlaflow.serving.config import BatchingParameters
from xlaflow.serving.loader import load_servable
from xlaflow.serving.workers import Workers

TF = ":tensorflow:serving:"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    base = tmp_path_factory.mktemp("toy")
    export(str(base), 1)
    return load_servable("toy", 1, str(base / "1"), batch_sizes=(1, 2, 4))


def _manager(servable):
    return type("OneModel", (), {
        "acquire": lambda self, *a: contextlib.nullcontext(servable),
        "models": lambda self: ["toy"]})()


def _sample(text, series):
    """The value of one rendered series (`name{labels}`), or None."""
    for line in text.splitlines():
        if line.rsplit(" ", 1)[0] == series:
            return float(line.rsplit(" ", 1)[1])
    return None


async def _call(app, path, body, receive=None):
    sent = []

    async def send(message):
        sent.append(message)

    messages = [{"type": "http.request", "body": body, "more_body": False}]
    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
             "headers": [(b"content-length", str(len(body)).encode())]}
    await asyncio.wait_for(app(scope, receive or (lambda: asyncio.sleep(0, messages.pop(0))),
                               send), 30)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _v1(row):
    return "/v1/models/toy:predict", json.dumps({"instances": row}).encode()


def _v2(row):
    return "/v2/models/toy/infer", json.dumps({"inputs": [
        {"name": "x", "shape": [len(row), 3], "datatype": "FP32",
         "data": np.ravel(row).tolist()}]}).encode()


@pytest.mark.parametrize("batching", [False, True])
def test_every_successful_predict_is_counted_once_in_each_series(toy, batching):
    registry = metrics_lib.Registry()
    metrics = metrics_lib.server_metrics(registry)
    scheduler = BatchScheduler(BatchingParameters(
        max_batch_size=4, batch_timeout_micros=1000, num_batch_threads=2),
        metrics) if batching else None
    workers = Workers(2)
    app = App(_manager(toy), metrics=metrics, registry=registry, scheduler=scheduler,
              executor=workers)
    rows = [[[i, 1.0, 2.0]] * (1 + i % 3) for i in range(7)]  # 1-3 rows each, 13 in all
    requests = [(_v1 if i % 2 else _v2)(row) for i, row in enumerate(rows)]

    async def main():
        return await asyncio.gather(*(_call(app, *r) for r in requests))

    try:
        answers = asyncio.run(main())
    finally:
        workers.close()
        if scheduler is not None:
            scheduler.close()
    for i, (row, (status, body)) in enumerate(zip(rows, answers)):
        assert status == 200, body
        doc = json.loads(body)
        got = doc["predictions"] if i % 2 else doc["outputs"][0]["data"]
        np.testing.assert_allclose(np.ravel(got), np.ravel(expected(row, 1)), rtol=1e-6)
    text = registry.render()
    assert _sample(text, TF + 'request_count{model_name="toy",status="OK"}') == 7
    assert _sample(text, TF + 'request_latency_count{model_name="toy",API="predict",'
                              'entrypoint="REST"}') == 7
    assert _sample(text, TF + 'runtime_latency_count{model_name="toy",API="predict",'
                              'runtime="XLA"}') == 7
    batch = TF + 'batching_session:'
    if not batching:
        assert batch + "input_batch_size_count" not in text
        return
    assert _sample(text, batch + 'input_batch_size_count{model_name="toy"}') == 7
    assert _sample(text, batch + 'input_batch_size_sum{model_name="toy"}') == 13
    assert _sample(text, batch + 'queuing_latency_count{model_name="toy"}') == 7
    runs = _sample(text, batch + 'wrapped_run_count{model_name="toy"}')
    assert 4 <= runs <= 7  # 13 rows in batches of at most 4
    processed = _sample(text, batch + 'processed_batch_size_sum{model_name="toy"}')
    padding = _sample(text, batch + 'padding_size_sum{model_name="toy"}')
    assert processed - padding == 13
    assert _sample(text, batch + 'processed_batch_size_count{model_name="toy"}') == runs


@pytest.mark.parametrize("request_of", [_v1, _v2])
def test_one_deadline_covers_the_body_and_the_model_call(toy, request_of):
    registry = metrics_lib.Registry()
    metrics = metrics_lib.server_metrics(registry)
    release = threading.Event()
    signature = toy.signatures["serving_default"]

    class Slow:  # the toy signature, whose calls wait for the test
        def __getattr__(self, name):
            return getattr(signature, name)

        def call_flat(self, inputs):
            release.wait(30)
            return signature.call_flat(inputs)

    slow = type("Servable", (), {"described": toy.described, "version": 1,
                                 "signatures": {"serving_default": Slow()}})()
    workers = Workers(1)
    app = App(_manager(slow), metrics=metrics, registry=registry, executor=workers,
              timeout_s=0.1)

    async def stalled():
        await asyncio.Event().wait()  # the headers came, the body never does

    try:
        status, body = asyncio.run(_call(app, *request_of([[1.0, 2.0, 3.0]])))
        assert (status, json.loads(body)) == (504, {"error": "Deadline Exceeded"})
        status, body = asyncio.run(_call(app, *request_of([[1.0, 2.0, 3.0]]), stalled))
        assert (status, json.loads(body)) == (504, {"error": "Deadline Exceeded"})
    finally:
        release.set()
        workers.close()
    text = registry.render()
    assert _sample(text, TF + 'request_count{model_name="toy",'
                              'status="DEADLINE_EXCEEDED"}') == 2
    assert 'status="OK"' not in text
