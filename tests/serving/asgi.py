"""One request to an App in process, as uvicorn would deliver it: the tests of the app's
own logic (threads, padding, hardening) without a socket."""

import asyncio


async def asgi_call(app, method, path, body=b"", headers=()):
    """(status, headers as a dict, body bytes) of `app`'s answer to one request."""
    sent = []

    async def send(message):
        sent.append(message)

    messages = [{"type": "http.request", "body": body, "more_body": False}]
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "headers": [(b"content-length", str(len(body)).encode()), *headers]}
    await app(scope, lambda: asyncio.sleep(0, messages.pop(0)), send)
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(
        m.get("body", b"") for m in sent[1:])
