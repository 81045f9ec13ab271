"""Compressed request bodies (`Content-Encoding`), for `/v1` and `/v2` alike.

TF Serving's HTTP server inflates gzip request bodies before its REST handler sees them,
and tritonclient sends gzip or deflate when asked to (`request_compression_algorithm`).
The inflated size is capped, as the body itself is: a few KiB of gzip can inflate to
gigabytes (a zip bomb), so inflating stops one byte past the limit.
"""

from __future__ import annotations

import zlib

from xlaflow.serving.errors import ServingError

# zlib window bits per coding: gzip's header and trailer, or zlib's (what HTTP's
# "deflate" means, and what tritonclient's deflate writes).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
          "deflate": zlib.MAX_WBITS}


class TooLarge(Exception):
    """The inflated body would pass the limit (answered with 413)."""


def codings(header):
    """The codings named by a Content-Encoding header value (bytes), in the order they
    were applied, `identity` left out; an unknown one is a 400 naming it."""
    text = header.decode("latin-1")
    names = [name.strip().lower() for name in text.split(",")]
    names = [name for name in names if name and name != "identity"]
    for name in names:
        if name not in _WBITS:
            raise ServingError("INVALID_ARGUMENT", f"Content-Encoding {name[:40]!r} is not "
                               "supported; expected gzip, deflate or identity")
    return names


def decode(body, names, limit):
    """`body` with the codings `names` undone (the last applied first); TooLarge when a
    result would pass `limit` bytes, a 400 when the data is not valid for its coding."""
    for name in reversed(names):
        body = _inflate(body, name, limit)
    return body


def _inflate(data, name, limit):
    parts, size = [], 0
    while True:  # gzip allows several members one after another (`cat a.gz b.gz`)
        inflater = zlib.decompressobj(_WBITS[name])
        try:
            part = inflater.decompress(data, limit - size + 1)
        except zlib.error as exc:
            raise ServingError("INVALID_ARGUMENT", f"the request body is not valid {name} "
                               f"data (Content-Encoding: {name}): {exc}") from None
        size += len(part)
        if size > limit:
            raise TooLarge(f"the request body inflates (Content-Encoding: {name}) to more "
                           f"than the limit of {limit} bytes")
        if not inflater.eof:
            raise ServingError("INVALID_ARGUMENT", f"the request body is truncated {name} "
                               f"data (Content-Encoding: {name}): it ends before the end "
                               "of the compressed stream")
        parts.append(part)
        data = inflater.unused_data
        if not data:
            return b"".join(parts)
        if name == "deflate":
            raise ServingError("INVALID_ARGUMENT", f"the request body has {len(data)} bytes "
                               "after the end of its deflate stream")
