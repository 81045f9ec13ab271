"""uvicorn's HTTP protocol with a deadline on request headers.

uvicorn times out idle keep-alive connections but not a request's headers: a connection
that sends nothing, or sends its headers a byte at a time, is held forever, and enough of
them use up the server's file descriptors (slowloris). Here every request must finish its
headers within the deadline, counted from the connection's opening or the request's first
byte; a late one gets `408 Request Timeout` and the connection closes. Bytes that arrive
between requests, or after the answer to a request whose body was not read, start the same
deadline. Bodies the app reads have its own deadline.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_BODY = b'{"error": "request headers did not arrive in time"}'
_TIMEOUT_REPLY = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                  b"content-length: " + str(len(_BODY)).encode() +
                  b"\r\nconnection: close\r\n\r\n" + _BODY)


def protocol(header_timeout_s):
    """The protocol class for `uvicorn.Config(http=...)`."""

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _header_timer = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def data_received(self, data):
            super().data_received(data)
            # Bytes between requests that begin none (a stray CRLF), or the rest of a body
            # the app answered without reading, cancel uvicorn's keep-alive timer: they
            # must not hold the connection open either.
            if self._header_timer is None and (
                    self.cycle is None or self.cycle.response_complete) and \
                    not self.transport.is_closing():
                self._arm()

        def on_message_begin(self):
            super().on_message_begin()
            if self._header_timer is None:
                self._arm()

        def on_headers_complete(self):
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

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
