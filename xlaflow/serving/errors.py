"""Serving failures as canonical status codes, and their HTTP form (spec section 1.2).

Handlers raise `ServingError(code, message)`; the HTTP layer turns it into a status and a
`{"error": message}` body, so every client mistake becomes a 4xx instead of a 500.
"""

from __future__ import annotations

import json

# Canonical code name -> HTTP status, as TF Serving's REST handler maps them.
_HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
}

#: The canonical code names, in the order of their enum numbers (status `error_code`s).
CODES = tuple(_HTTP_STATUS)


class ServingError(Exception):
    """A request failure with a canonical code name (`INVALID_ARGUMENT`, ...) and a message.

    The code decides the HTTP status (`http_status`); the message is what the client sees.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return http_status(self.code)

    def __repr__(self):
        return f"ServingError({self.code!r}, {self.message!r})"


def http_status(code: str) -> int:
    """The HTTP status for a canonical code name; anything unknown is a 500 (server fault)."""
    return _HTTP_STATUS.get(code, 500)


def error_body(message: str) -> bytes:
    """`{"error": message}` as bytes: the body of every failed REST / v2 response."""
    return json.dumps({"error": str(message)}).encode()
