"""uvicorn, adapted: an HTTP protocol with a deadline on request headers, and a server
that says which addresses it bound before models load.

uvicorn times out idle keep-alive connections but not a request's headers: a connection
that sends nothing, or sends its headers a byte at a time, is held forever, and enough of
them use up the server's file descriptors (slowloris). Here every request must finish its
headers within the deadline, counted from the connection's opening or the request's first
byte; a late one gets `408 Request Timeout` and the connection closes. Bytes that arrive
between requests, or after the answer to a request whose body was not read, start the same
deadline. Bodies the app reads have its own deadline.

uvicorn also writes a response's status line and headers, then its body, as two socket
writes; on loopback each write wakes the client, and the first one alone was ~13% of the
event loop's time under load. Here they leave in one write (see `_OneWriteCycle`).

And uvicorn copies a request body twice on the event loop (each chunk into a bytearray,
then out of it in receive()) and wakes the app for every chunk. Here chunks are kept as
they arrive and the app is woken once the body is complete, or once HIGH_WATER_LIMIT bytes
wait (reading pauses then, as in uvicorn); a body that arrived in one chunk is not copied.
"""

from __future__ import annotations

import logging

import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from xlaflow.serving.errors import error_body

log = logging.getLogger("xlaflow.serving")
_BODY = error_body("request headers did not arrive in time")
_TIMEOUT_REPLY = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                  b"content-length: " + str(len(_BODY)).encode() +
                  b"\r\nconnection: close\r\n\r\n" + _BODY)


def protocol(header_timeout_s):
    """The protocol class for `uvicorn.Config(http=...)`."""

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _header_timer = None
        _in_headers = False  # a request has begun and its headers are not complete

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def data_received(self, data):
            super().data_received(data)
            # The app is woken when its body is complete (on_message_complete), or when
            # more than HIGH_WATER_LIMIT bytes of an unfinished one wait: then reading pauses
            # until the app takes them, bounding the memory. (uvicorn pauses on any body
            # that large, finished too: two more system calls per large request.)
            cycle = self.cycle
            if type(cycle) is _OneWriteCycle and cycle.buffered > HIGH_WATER_LIMIT \
                    and cycle.more_body and not cycle.response_complete:
                self.flow.pause_reading()
                cycle.message_event.set()
            # Armed only when this chunk leaves headers unfinished, or when its bytes begin
            # no request (a stray CRLF, the rest of a body the app answered without reading:
            # they cancel uvicorn's keep-alive timer). A request that arrives whole arms
            # nothing.
            if self._header_timer is None and (
                    self._in_headers or self.cycle is None or self.cycle.response_complete) \
                    and not self.transport.is_closing():
                self._arm()

        def on_message_begin(self):
            super().on_message_begin()
            self._in_headers = True

        def on_headers_complete(self):
            self._in_headers = False
            self._disarm()
            super().on_headers_complete()
            # uvicorn makes the cycle (and schedules, not yet runs, its task) just above
            if type(self.cycle) is RequestResponseCycle:
                self.cycle.__class__ = _OneWriteCycle
                self.cycle.chunks, self.cycle.buffered = [], 0

        def on_body(self, body):
            cycle = self.cycle
            if type(cycle) is not _OneWriteCycle:
                return super().on_body(body)
            if cycle.response_complete or (self.parser.should_upgrade() and
                                           self._should_upgrade()):
                return  # (as uvicorn: a body the app answered without reading is dropped)
            cycle.chunks.append(body)
            cycle.buffered += len(body)

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg):
            # What the HTTP parser refuses (a method it does not know, a bad or repeated
            # Content-Length) is answered as every other error, {"error": ...} in JSON
            # (spec 1.2; tritonclient reads the message from it); uvicorn's is text/plain.
            body = error_body(msg)
            head = [b"HTTP/1.1 400 Bad Request\r\n"]
            for name, value in self.server_state.default_headers:
                head.extend([name, b": ", value, b"\r\n"])
            head.append(b"content-type: application/json\r\ncontent-length: " +
                        str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n")
            self.transport.write(b"".join(head) + body)
            self.transport.close()

        def _arm(self):
            self._header_timer = self.loop.call_later(header_timeout_s, self._expired)

        def _disarm(self):
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expired(self):
            self._header_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                self._arm()  # a pipelined request waits for the one being answered
                return
            self.transport.write(_TIMEOUT_REPLY)
            self.transport.close()

    return HeaderDeadlineProtocol


class _Held:
    """Stands in for the transport while uvicorn writes a response's head: keeps it."""

    def __init__(self, transport):
        self.transport, self.data = transport, []

    def write(self, data):
        self.data.append(data)

    def __getattr__(self, name):
        return getattr(self.transport, name)


class _Prepend:
    """Stands in for the transport while uvicorn writes the first body message: the kept
    head goes out with the first write (or before a close, or at the end if none came)."""

    def __init__(self, transport, head):
        self.transport, self.head = transport, head

    def write(self, data):
        head, self.head = self.head, None
        self.transport.write(data if head is None else head + data)

    def close(self):
        self.flush()
        self.transport.close()

    def flush(self):
        if self.head is not None:
            head, self.head = self.head, None
            self.transport.write(head)

    def __getattr__(self, name):
        return getattr(self.transport, name)


class _OneWriteCycle(RequestResponseCycle):
    """uvicorn's request cycle, whose response head waits for the first body message to
    leave in the same write. The app sends that message right after the head, so nothing
    is delayed; a HEAD answer (no body written) or an error path flushes the head alone.
    The request body is kept as a list of chunks (`chunks`, `buffered` bytes in all),
    handed to the app joined once per receive()."""

    _head = None
    chunks, buffered = (), 0  # (set per request by the protocol's on_headers_complete)

    async def receive(self):
        # uvicorn's receive(), but the body leaves as one bytes object, joined only when it
        # came in several chunks
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        chunks = self.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks, self.buffered = [], 0
        return {"type": "http.request", "body": body, "more_body": self.more_body}

    async def send(self, message):
        if message["type"] == "http.response.start" and not self.response_started:
            transport = self.transport
            self.transport = held = _Held(transport)
            try:
                await super().send(message)
            finally:
                self.transport = transport
            self._head = b"".join(held.data) or None
            return
        head, self._head = self._head, None
        if head is None:
            return await super().send(message)
        transport = self.transport
        self.transport = joined = _Prepend(transport, head)
        try:
            await super().send(message)
        finally:
            self.transport = transport
            if not transport.is_closing():
                joined.flush()


class Listening(uvicorn.Server):
    """uvicorn's server, which logs the addresses it bound (the port, when 0 let the system
    pick) and only then calls `on_listening` (model loading): a port already in use ends
    the process before any load runs."""

    def __init__(self, config, on_listening):
        super().__init__(config)
        self.on_listening = on_listening

    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if self.should_exit:
            return
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                log.info("serving on http://%s:%d", f"[{host}]" if ":" in host else host, port)
        self.on_listening()
