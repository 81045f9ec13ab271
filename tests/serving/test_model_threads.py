"""How many unbatched model calls run at once: the model-call pool (one thread per usable
core by default, --tensorflow_inter_op_parallelism otherwise), apart from the body pool."""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.serving.asgi import asgi_call
from tests.serving.harness import expected, export
from xlaflow.serving.app import App
from xlaflow.serving.loader import load_servable
from xlaflow.serving.server import Server, parser
from xlaflow.serving.workers import Workers


class _Counting:
    """A signature whose calls record the threads that ran them and how many overlapped."""

    def __init__(self, signature):
        self._signature = signature
        self.lock, self.running, self.peak, self.threads = threading.Lock(), 0, 0, set()

    def __getattr__(self, name):
        return getattr(self._signature, name)

    def call_flat(self, inputs):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(0.05)  # long enough for every waiting call to have been handed out
            return self._signature.call_flat(inputs)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    base = tmp_path_factory.mktemp("toy")
    export(str(base), 1)
    return load_servable("toy", 1, str(base / "1"))


@pytest.mark.parametrize("threads", [1, 3])
def test_unbatched_calls_run_on_the_model_pool_at_most_its_size_at_once(toy, threads):
    counting = _Counting(toy.signatures["serving_default"])
    servable = type("Servable", (), {"described": toy.described, "version": 1,
                                     "signatures": {"serving_default": counting}})()
    manager = type("OneModel", (), {
        "acquire": lambda self, *a: contextlib.nullcontext(servable),
        "models": lambda self: ["toy"]})()
    bodies, models = Workers(8, name="bodies"), Workers(threads, name="models")
    app = App(manager, executor=bodies, model_executor=models)
    rows = [[[i, 2.0 * i, -1.0]] for i in range(6)]

    async def predict(row):
        status, _, body = await asgi_call(app, "POST", "/v1/models/toy:predict",
                                          json.dumps({"instances": row}).encode())
        return status, json.loads(body)

    async def main():
        return await asyncio.gather(*(predict(row) for row in rows))

    try:
        answers = asyncio.run(main())
    finally:
        bodies.close()
        models.close()
    for row, (status, body) in zip(rows, answers):
        assert status == 200, body
        np.testing.assert_allclose(body["predictions"], expected(row, 1), rtol=1e-6)
    assert counting.peak == threads
    assert counting.threads and all(n.startswith("models_") for n in counting.threads)


def _args(tmp_path, *flags):
    return parser().parse_args([f"--model_base_path={tmp_path}", *flags])


@pytest.mark.parametrize("flags, count", [
    ((), None), (("--tensorflow_inter_op_parallelism=3",), 3)])
def test_the_server_sizes_the_model_pool_to_the_cores_or_the_flag(tmp_path, flags, count):
    server = Server(_args(tmp_path, "--rest_api_num_threads=5", *flags))
    before = {t.ident for t in threading.enumerate()}
    app = server.app()
    try:
        new = [t.name for t in threading.enumerate() if t.ident not in before]
        assert sum(n.startswith("xlaflow-run_") for n in new) == \
            (count or len(os.sched_getaffinity(0)))
        assert sum(n.startswith("xlaflow-rest_") for n in new) == 5
        assert app.model_executor is not app.executor
    finally:
        for workers in server._workers:
            workers.close()


@pytest.mark.parametrize("flag, value, expect", [
    ("--rest_api_num_threads", "0", "expected an integer >= 1; received '0'"),
    ("--rest_api_num_threads", "x", "expected an integer >= 1; received 'x'"),
    ("--tensorflow_inter_op_parallelism", "-1", "expected an integer >= 0; received '-1'")])
def test_thread_counts_out_of_range_are_refused_naming_the_flag(flag, value, expect, capsys):
    with pytest.raises(SystemExit):
        parser().parse_args([f"{flag}={value}"])
    err = capsys.readouterr().err
    assert flag in err and expect in err, err


def test_usable_cores_follow_the_process_affinity():
    # a child limited to one core (as taskset or a container's cpuset would) sees one
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from xlaflow.serving.server import usable_cores; print(usable_cores())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.stdout.strip() == "1"
