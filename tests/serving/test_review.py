"""Regressions found in review, in process (no server subprocess): what the batch queues
keep alive, large-batch splitting, and compressed v2 bodies."""

import asyncio
import dataclasses
import gc
import json
import threading
import types
import weakref

import numpy as np
import pytest

from tests.serving.harness import expected, export
from xlaflow.serving.app import App
from xlaflow.serving.batching import BatchScheduler
from xlaflow.serving.config import BatchingParameters
from xlaflow.serving.errors import ServingError
from xlaflow.serving.loader import load_servable
from xlaflow.serving.manager import Manager
from xlaflow.serving.server import Server


def test_an_idle_batch_queue_keeps_no_unloaded_program_alive(tmp_path):
    export(str(tmp_path), 1)
    servable = load_servable("toy", 1, str(tmp_path / "1"))
    signature = servable.signatures["serving_default"]
    alive = weakref.ref(signature)
    x = np.float32([[1, 2, 3]])

    async def main():
        nonlocal servable, signature
        scheduler = BatchScheduler(BatchingParameters(max_batch_size=4, num_batch_threads=1))
        out = await scheduler.run(("toy", 1, signature.name), signature.call_flat, [x], "toy")
        np.testing.assert_array_equal(out[0], expected(x, 1))
        servable = signature = out = None  # the version is unloaded; its queue stays
        for _ in range(3):
            await asyncio.sleep(0.01)
        gc.collect()
        assert alive() is None, "the idle queue still holds the unloaded signature"
        scheduler.close()

    asyncio.run(main())


def _double(inputs):
    return [inputs[0] * 2]


def test_large_batch_splitting_runs_and_warms_up():
    params = BatchingParameters(max_batch_size=16, enable_large_batch_splitting=True,
                                max_execution_batch_size=4, num_batch_threads=2)
    # Warm-up sizes are the sizes a run can take: before, the load failed on size 5.
    assert Server._batch_sizes(types.SimpleNamespace(batching=params)) == (1, 2, 4)
    seen = []

    def run(inputs):
        seen.append(inputs[0].shape[0])
        return _double(inputs)

    async def main():
        scheduler = BatchScheduler(params)
        big = np.arange(30, dtype=np.float32).reshape(10, 3)
        small = [np.full((3, 3), i, np.float32) for i in range(4)]
        outs = await asyncio.wait_for(asyncio.gather(
            scheduler.run("k", run, [big], "m"),
            *(scheduler.run("k", run, [s], "m") for s in small)), 10)
        np.testing.assert_array_equal(outs[0][0], big * 2)
        for s, out in zip(small, outs[1:]):
            np.testing.assert_array_equal(out[0], s * 2)
        assert max(seen) <= 4
        assert scheduler.queues["k"].pending == 0
        scheduler.close()

    asyncio.run(main())


def test_compressed_v2_bodies_are_inflated_or_refused():
    app = App(Manager(lambda *a: None))

    async def main(body, encoding):
        start = {}

        async def send(message):
            start.setdefault("status", message.get("status"))

        messages = [{"type": "http.request", "body": body, "more_body": False}]
        scope = {"type": "http", "method": "POST", "path": "/v2/models/m/infer",
                 "raw_path": b"/v2/models/m/infer",
                 "headers": [(b"content-length", str(len(body)).encode()),
                             (b"content-encoding", encoding)]}
        await app(scope, lambda: asyncio.sleep(0, messages.pop(0)), send)
        return start["status"]

    import gzip
    body = b'{"inputs": []}'
    # spec 3.2: decode, or answer 400. gzip is inflated (then model m is not found) ...
    assert asyncio.run(main(gzip.compress(body), b"gzip")) == 404
    # ... a coding xlaflow does not know is a 400
    assert asyncio.run(main(body, b"br")) == 400


def test_a_version_waiting_to_retry_that_leaves_and_comes_back_starts_afresh():
    failing = {4}

    class Loaded:
        warmup_seconds = 0.0

    def load(name, version, path):
        if version in failing:
            raise ValueError(f"version {version} is not there yet")
        return Loaded()

    manager = Manager(load, max_load_retries=3, retry_interval_s=3600)
    manager.keep_models(["m"])
    manager.add_model("m")

    def settle(aspired):
        manager.set_aspired("m", {v: f"/m/{v}" for v in aspired})
        while manager.step():
            pass
        return {v: state for v, state, _, _ in manager.status("m")}

    assert settle([1]) == {1: "AVAILABLE"}
    assert settle([4]) == {4: "START", 1: "AVAILABLE"}  # its retry is an hour away
    # v5 replaces it: v4 will not be loaded any more, so it must not look pending
    assert settle([5]) == {5: "AVAILABLE", 4: "END", 1: "END"}
    failing.clear()  # v4 is complete now and aspired again: loaded at once, as a new one
    assert settle([4, 5]) == {5: "AVAILABLE", 4: "AVAILABLE", 1: "END"}


def test_refused_labels_keep_the_previous_ones():
    class Loaded:
        warmup_seconds = 0.0

    manager = Manager(lambda name, version, path: Loaded(), max_load_retries=0)
    manager.keep_models(["m"])
    manager.add_model("m")
    manager.set_aspired("m", {1: "/m/1"})
    while manager.step():
        pass
    manager.set_labels("m", {"stable": 1})
    with pytest.raises(ServingError, match="label 'canary' cannot point at version 9"):
        manager.set_labels("m", {"stable": 1, "canary": 9})
    manager.add_model("m")  # a config reload re-adds the model: its labels stay
    with manager.acquire("m", label="stable") as servable:
        assert isinstance(servable, Loaded)


def test_a_full_batch_goes_straight_to_a_batch_thread_but_keeps_the_queue_rules():
    params = BatchingParameters(max_batch_size=4, batch_timeout_micros=200_000,
                                max_enqueued_batches=1, num_batch_threads=1)
    seen = []

    def run(inputs):
        seen.append(inputs[0][:, 0].tolist())
        return _double(inputs)

    async def main():
        scheduler = BatchScheduler(params)
        full = np.arange(12, dtype=np.float32).reshape(4, 3)
        out = await scheduler.run("k", run, [full], "m")
        np.testing.assert_array_equal(out[0], full * 2)
        # The batch on the thread is not enqueued (TF's max_enqueued_batches): a second
        # full request waits for the thread and fills the bound; a third is refused.
        first = asyncio.ensure_future(scheduler.run("k", run, [full], "m"))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(scheduler.run("k", run, [full + 1], "m"))
        await asyncio.sleep(0)
        assert scheduler.queues["k"].pending == 4
        with pytest.raises(ServingError, match="queue .* is full"):
            await scheduler.run("k", run, [full + 2], "m")
        np.testing.assert_array_equal((await second)[0], (full + 1) * 2)
        await first
        assert scheduler.queues["k"].pending == 0 and not scheduler.backlog
        scheduler.close()
        # Behind a queued request a full one waits its turn instead of overtaking it.
        roomy = BatchScheduler(dataclasses.replace(params, max_enqueued_batches=2))
        one = np.full((1, 3), 100, np.float32)
        seen.clear()
        await asyncio.gather(roomy.run("k", run, [one], "m"), roomy.run("k", run, [full], "m"))
        assert seen[0][0] == 100 and seen[1] == [0, 3, 6, 9]
        assert roomy.queues["k"].pending == 0
        roomy.close()

    asyncio.run(main())


def test_idle_batch_queues_are_dropped_when_another_is_made(monkeypatch):
    from xlaflow.serving import batching
    monkeypatch.setattr(batching, "IDLE_QUEUE_SECONDS", 0.0)
    x = np.ones((1, 3), np.float32)

    async def main():
        scheduler = BatchScheduler(BatchingParameters(max_batch_size=4, num_batch_threads=1))
        await scheduler.run(("m", 1, "s"), _double, [x], "m")
        old = scheduler.queues[("m", 1, "s")].dispatcher
        out = await scheduler.run(("m", 2, "s"), _double, [x], "m")  # version 2 arrives
        np.testing.assert_array_equal(out[0], x * 2)
        await asyncio.sleep(0)
        assert list(scheduler.queues) == [("m", 2, "s")] and old.cancelled()
        out = await scheduler.run(("m", 1, "s"), _double, [x + 1], "m")  # made again
        np.testing.assert_array_equal(out[0], (x + 1) * 2)
        scheduler.close()

    asyncio.run(main())


def test_a_large_body_is_parsed_off_the_event_loop_under_the_deadline(monkeypatch):
    import concurrent.futures
    import contextlib

    from xlaflow.serving import app as app_module
    release = threading.Event()

    def slow_parse(body, described):  # stands in for parsing a huge JSON body
        release.wait(30)
        raise AssertionError("the reply must not wait for the parse")

    monkeypatch.setattr(app_module.rest_codec, "parse_predict_request", slow_parse)
    servable = types.SimpleNamespace(described={}, signatures={})
    manager = types.SimpleNamespace(acquire=lambda *a: contextlib.nullcontext(servable))
    pool = concurrent.futures.ThreadPoolExecutor(1)
    app = App(manager, executor=pool, timeout_s=0.05)
    body = b" " * app_module.OFF_LOOP_BYTES

    async def main():
        sent = []

        async def send(message):
            sent.append(message)

        messages = [{"type": "http.request", "body": body, "more_body": False}]
        scope = {"type": "http", "method": "POST", "path": "/v1/models/m:predict",
                 "raw_path": b"/v1/models/m:predict",
                 "headers": [(b"content-length", str(len(body)).encode())]}
        tick = asyncio.create_task(asyncio.sleep(0.01))  # the loop keeps running meanwhile
        await asyncio.wait_for(app(scope, lambda: asyncio.sleep(0, messages.pop(0)), send), 10)
        assert tick.done()
        return sent[0]["status"], json.loads(sent[1]["body"])["error"]

    try:
        assert asyncio.run(main()) == (504, "Deadline Exceeded")
        assert not release.is_set()
    finally:
        release.set()
        pool.shutdown(wait=True)


def test_an_unload_waiting_for_requests_does_not_hold_up_the_manager():
    class Loaded:
        warmup_seconds = 0.0

    manager = Manager(lambda name, version, path: Loaded(), max_load_retries=0)
    manager.keep_models(["m", "n"])
    for name in ("m", "n"):
        manager.add_model(name)

    def states(name):
        return {v: state for v, state, _, _ in manager.status(name)}

    manager.set_aspired("m", {1: "/m/1"})
    while manager.step():
        pass
    handle = manager.acquire("m")  # a request in flight on version 1
    handle.__enter__()
    manager.set_aspired("m", {2: "/m/2"})
    manager.set_aspired("n", {7: "/n/7"})
    def settle():
        while manager.step():
            pass

    worker = threading.Thread(target=settle, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the manager waits for the in-flight request"
    assert states("m") == {2: "AVAILABLE", 1: "UNLOADING"}
    assert states("n") == {7: "AVAILABLE"}  # another model's load was not held up
    fresh = manager.acquire("m")  # new requests go to version 2
    assert fresh._version.version == 2
    fresh.__exit__(None, None, None)
    handle.__exit__(None, None, None)  # the last request on version 1 finishes it
    assert states("m") == {2: "AVAILABLE", 1: "END"}


def test_a_version_wanted_again_while_it_unloads_is_loaded_again():
    class Loaded:
        warmup_seconds = 0.0

    manager = Manager(lambda name, version, path: Loaded(), max_load_retries=0)
    manager.keep_models(["m"])
    manager.add_model("m")
    manager.set_aspired("m", {1: "/m/1"})
    while manager.step():
        pass
    handle = manager.acquire("m")
    handle.__enter__()  # a request in flight keeps version 1 UNLOADING
    manager.set_aspired("m", {})
    while manager.step():
        pass
    assert [s for _, s, _, _ in manager.status("m")] == ["UNLOADING"]
    manager.set_aspired("m", {1: "/m/1"})  # the config puts it back meanwhile
    handle.__exit__(None, None, None)
    while manager.step():
        pass
    assert [s for _, s, _, _ in manager.status("m")] == ["AVAILABLE"]


def test_a_request_that_gave_up_leaves_the_batch_queue():
    params = BatchingParameters(max_batch_size=8, batch_timeout_micros=2_000_000,
                                num_batch_threads=1, max_enqueued_batches=1)
    runs = []

    def run(inputs):
        runs.append(inputs[0].shape[0])
        return _double(inputs)

    async def main():
        scheduler = BatchScheduler(params)
        with pytest.raises(asyncio.TimeoutError):  # its deadline passes while it waits
            await asyncio.wait_for(scheduler.run("k", run, [np.ones((1, 3), np.float32)],
                                                 "m"), 0.2)
        queue = scheduler.queues["k"]
        assert queue.tasks == [] and queue.pending == 0
        # The queue holds 8 rows: without the dropped one, 8 more fit.
        full = np.arange(24, dtype=np.float32).reshape(8, 3)
        out = await asyncio.wait_for(scheduler.run("k", run, [full], "m"), 10)
        np.testing.assert_array_equal(out[0], full * 2)
        assert runs == [8]  # the expired row was never computed
        scheduler.close()

    asyncio.run(main())


def test_a_stalled_body_gets_the_deadline_and_a_disconnect_is_not_a_client_error():
    from xlaflow.serving import metrics as metrics_lib
    registry = metrics_lib.Registry()
    app = App(types.SimpleNamespace(models=lambda: ["m"]),
              metrics=metrics_lib.server_metrics(registry), registry=registry, timeout_s=0.05)
    scope = {"type": "http", "method": "POST", "path": "/v1/models/m:predict",
             "raw_path": b"/v1/models/m:predict", "headers": [(b"content-length", b"100")]}

    async def call(receive):
        sent = []

        async def send(message):
            sent.append(message)

        await asyncio.wait_for(app(scope, receive, send), 10)
        return sent[0]["status"]

    async def stalled():
        await asyncio.Event().wait()  # sent the headers, then nothing

    async def gone():
        return {"type": "http.disconnect"}

    assert asyncio.run(call(stalled)) == 504
    asyncio.run(call(gone))
    text = registry.render()
    assert 'model_name="m",status="DEADLINE_EXCEEDED"} 1' in text
    assert 'model_name="m",status="CANCELLED"} 1' in text
    assert "INVALID_ARGUMENT" not in text


def test_a_batch_that_does_not_fill_waits_on_one_timer_under_uvloop():
    """The server's loop is uvloop. The dispatcher waited for arrivals with one
    asyncio.wait_for, a new task and timer, per wake; now one timer per batch wakes it."""
    uvloop = pytest.importorskip("uvloop")
    params = BatchingParameters(max_batch_size=8, batch_timeout_micros=2000,
                                num_batch_threads=1)
    x = np.float32([[1, 2, 3]])

    async def main():
        loop = asyncio.get_running_loop()
        scheduler = BatchScheduler(params)
        await scheduler.run("k", _double, [x], "m")  # the queue and its dispatcher exist
        made = []

        def counting(loop, coro, **kwargs):
            made.append(coro)
            return asyncio.Task(coro, loop=loop, **kwargs)

        loop.set_task_factory(counting)
        try:
            for _ in range(20):  # one row of eight: each batch waits out its timeout
                out = await scheduler.run("k", _double, [x], "m")
                np.testing.assert_array_equal(out[0], x * 2)
        finally:
            loop.set_task_factory(None)
        assert made == []
        scheduler.close()

    uvloop.run(main())
