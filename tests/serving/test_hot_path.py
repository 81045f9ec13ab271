"""The request hot path's plumbing, in process: worker threads answering asyncio futures,
and responses leaving in one socket write."""

import asyncio
import threading
import time

import pytest

from xlaflow.serving import http_protocol
from xlaflow.serving.workers import Workers


def test_workers_answer_in_submission_order_with_results_and_errors():
    workers = Workers(1)
    ran = []

    def call(i):
        ran.append(i)
        if i == 3:
            raise KeyError(i)
        return i * i

    async def main():
        futures = [workers.submit(call, i) for i in range(6)]
        return await asyncio.gather(*futures, return_exceptions=True)

    try:
        done = asyncio.run(main())
    finally:
        workers.close()
    assert ran == list(range(6))  # one thread: strictly in order
    assert done[:3] == [0, 1, 4] and done[4:] == [16, 25]
    assert isinstance(done[3], KeyError)


def test_workers_run_off_the_event_loop_thread_and_skip_calls_given_up():
    workers = Workers(1)
    gate, ran = threading.Event(), []

    def blocker():
        gate.wait(10)
        return threading.get_ident()

    async def main():
        first = workers.submit(blocker)
        skipped = workers.submit(ran.append, "skipped")
        skipped.cancel()  # given up while queued behind `first`
        gate.set()
        ident = await first
        kept = await workers.submit(ran.append, "kept")
        return ident, kept

    try:
        ident, kept = asyncio.run(main())
    finally:
        workers.close()
    assert ident != threading.get_ident()
    assert kept is None and ran == ["kept"]


def test_workers_close_finishes_queued_calls_and_refuses_new_ones():
    workers = Workers(2)
    ran = []

    async def main():
        futures = [workers.submit(lambda i=i: (time.sleep(0.01), ran.append(i)))
                   for i in range(4)]
        await asyncio.sleep(0)
        return futures

    asyncio.run(main())
    workers.close()  # returns once every queued call ran and the threads ended
    assert sorted(ran) == [0, 1, 2, 3]
    assert not any(t.is_alive() for t in workers._threads)

    async def late():
        workers.submit(print)

    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(late())


@pytest.mark.parametrize("count", [0, -1, 1.5, None])
def test_workers_refuse_a_bad_thread_count(count):
    with pytest.raises(ValueError, match=f"count must be an integer >= 1; received {count!r}"):
        Workers(count)


class _Transport:
    def __init__(self):
        self.writes, self.closed = [], False

    def write(self, data):
        assert not self.closed
        self.writes.append(bytes(data))

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed


def _cycle(method="POST", keep_alive=True):
    """A request cycle as our protocol makes it, writing to a recording transport."""
    transport = _Transport()
    flow = type("Flow", (), {"write_paused": False})()
    cycle = http_protocol.RequestResponseCycle(
        scope={"method": method, "type": "http"}, transport=transport, flow=flow,
        logger=None, access_logger=None, access_log=False, default_headers=[],
        message_event=asyncio.Event(), expect_100_continue=False, keep_alive=keep_alive,
        on_response=lambda: None)
    cycle.__class__ = http_protocol._OneWriteCycle
    return cycle, transport


def _start(length):
    return {"type": "http.response.start", "status": 200,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(length).encode())]}


def _sent(*messages, method="POST", keep_alive=True):
    async def main():
        cycle, transport = _cycle(method, keep_alive)
        for message in messages:
            await cycle.send(message)
        return cycle, transport

    return asyncio.run(main())


def test_a_response_head_and_body_leave_in_one_write():
    cycle, transport = _sent(_start(7), {"type": "http.response.body", "body": b'{"a":1}'})
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                b"content-length: 7\r\n\r\n" + b'{"a":1}']
    assert cycle.response_complete


def test_a_streamed_body_sends_the_head_with_its_first_part_only():
    _, transport = _sent(_start(6), {"type": "http.response.body", "body": b"abc",
                                     "more_body": True},
                         {"type": "http.response.body", "body": b"def"})
    assert len(transport.writes) == 2
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\nabc") and transport.writes[1] == b"def"


def test_a_head_request_still_gets_its_head():
    # uvicorn writes no body for HEAD: the kept head must go out on its own
    _, transport = _sent(_start(7), {"type": "http.response.body", "body": b""},
                         method="HEAD")
    assert transport.writes == [(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"content-length: 7\r\n\r\n")]


def test_a_closing_connection_gets_the_head_before_it_closes():
    _, transport = _sent(_start(2), {"type": "http.response.body", "body": b"{}"},
                         keep_alive=False)
    assert transport.writes == [(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"content-length: 2\r\nconnection: close\r\n\r\n{}")]
    assert transport.closed
