"""A request's body, read under the server's limits: the declared size checked before
reading and the received size while reading (413 past max_body_bytes, with a lingering
close), Content-Encoding undone; what it refuses is raised as a `Reply`."""

from __future__ import annotations

import asyncio
import time

from xlaflow.serving import content_encoding
from xlaflow.serving.errors import ServingError, error_body, http_status

JSON = [(b"content-type", b"application/json")]
# How long a refused request's body is still read (and dropped) before the connection
# closes; nginx lingers for up to 30 s, 5 s between reads.
LINGER_SECONDS = 5.0
# A compressed body's inflated size, estimated as this many times its own (gzip reaches
# ~1000x), to choose where it is inflated: from 4 KiB up on a thread; below, at most ~4 MiB
# inflates on the event loop, a few ms.
INFLATION = 64


class Reply(Exception):
    """An answer decided before the request was handled to the end (an error, mostly)."""

    def __init__(self, status, body=b"", headers=None, linger=None):
        self.status, self.body, self.headers = status, body, headers or JSON
        # A refused body (413) is read and dropped before the connection closes.
        self.linger = status == 413 if linger is None else linger


def error_reply(exc):
    """The Reply for a ServingError: its HTTP status and `{"error": message}`."""
    return Reply(http_status(exc.code), error_body(exc.message))


async def drain(receive, seconds):
    """Read and drop request body messages until the body ends, the client leaves, or
    `seconds` pass."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await asyncio.wait_for(receive(), left)
        except asyncio.TimeoutError:
            return
        if message["type"] != "http.request" or not message.get("more_body"):
            return


class BodyReading:
    """The App's body reading: needs `max_body_bytes`, `_count(name, status)` (request_count)
    and `_codec(size, fn, *args)` (work that may go to a thread)."""

    async def _body(self, headers, receive, name):
        declared = headers.get(b"content-length")
        if declared is not None and int(declared) > self.max_body_bytes:
            self._too_large(name, f"request body of {int(declared)} bytes exceeds the limit "
                                  f"of {self.max_body_bytes} bytes")
        # (a client that stalls mid-body meets the request's deadline, set by the caller)
        body = await self._read_body(receive, name)
        encoding = headers.get(b"content-encoding")
        return body if encoding is None else await self._inflate(body, encoding, name)

    async def _inflate(self, body, encoding, name):
        """The body with its Content-Encoding undone, at most max_body_bytes once inflated
        (a 413 past it; the body was read whole, so the connection stays open)."""
        try:
            names = content_encoding.codings(encoding)
            if not names:
                return body
            return await self._codec(len(body) * INFLATION, content_encoding.decode,
                                     body, names, self.max_body_bytes)
        except content_encoding.TooLarge as exc:
            self._count(name, "RESOURCE_EXHAUSTED")
            raise Reply(413, error_body(str(exc)), linger=False) from None
        except ServingError as exc:
            self._count(name, exc.code)
            raise error_reply(exc) from None

    def _too_large(self, name, message):
        """413, answered with a lingering close (see App.__call__)."""
        self._count(name, "RESOURCE_EXHAUSTED")
        raise Reply(413, error_body(message), [*JSON, (b"connection", b"close")])

    async def _read_body(self, receive, name):
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # the client left: nobody to answer
                self._count(name, "CANCELLED")
                raise Reply(499, error_body("the client closed the connection"))
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                self._too_large(name, f"request body exceeds the limit of "
                                      f"{self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)  # (one chunk: that object itself, not a copy)
