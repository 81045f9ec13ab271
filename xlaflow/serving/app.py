"""The HTTP side: an ASGI app speaking TF Serving's REST API, the Open Inference Protocol
(KServe v2) and Prometheus, on one port, for uvicorn to run.

Routing follows TF Serving's regexes (case-insensitive; anything else under /v1/ is a
400 "Malformed request"). Every client mistake becomes a 4xx `{"error": ...}`; bodies are
read under their limit by request_body.py. Model calls run off the event loop (a thread
pool, or the batch scheduler).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import urllib.parse

import numpy as np

from xlaflow.saving.loaded import InputError
from xlaflow.serving import padding, rest_codec, v2_codec
from xlaflow.serving.errors import ServingError, error_body
from xlaflow.serving.request_body import JSON as _JSON
from xlaflow.serving.request_body import LINGER_SECONDS, BodyReading
from xlaflow.serving.request_body import Reply as _Reply
from xlaflow.serving.request_body import drain as _drain
from xlaflow.serving.request_body import error_reply as _error
from xlaflow.serving.workers import Workers

_I = re.IGNORECASE
_V1_POST = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?"
                      r":(classify|regress|predict)", _I)
_V1_GET = re.compile(r"/v1/models(?:/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?)?"
                     r"(/metadata)?", _I)
_V2_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/(\d+))?(/ready|/infer)?", _I)
# request_count's model_name for requests naming no model the server has
UNKNOWN_MODEL = "<unknown>"
_INT64_MAX = 2 ** 63 - 1
log = logging.getLogger("xlaflow.serving")

# Requests and replies from this many JSON bytes up are parsed and encoded on a thread
# (measured: 1 MiB of JSON takes ~11 ms just to parse, a 3 MB reply ~160 ms to write with
# NaNs in it, stalling every other connection); below it the hand-off costs more than it
# saves.
OFF_LOOP_BYTES = 256 << 10
# Bytes of JSON text per output value, to estimate a reply's size before writing it.
_JSON_BYTES_PER_VALUE = 12


class App(BodyReading):
    """The ASGI application. `manager` resolves versions; `scheduler` batches (or None).

    Unbatched model calls run on `model_executor` (default: `executor`, which also takes
    large bodies' parsing and encoding): the server sizes it to the cores, see server.py.
    `timeout_s` bounds each inference request (body and answer); None: no deadline.
    """

    def __init__(self, manager, *, metrics=None, registry=None, monitoring_path=None,
                 scheduler=None, executor=None, model_executor=None, max_body_bytes=256 << 20,
                 timeout_s=30.0, cors=False, on_scrape=None, padding_limit=None):
        self.manager, self.metrics, self.registry = manager, metrics, registry
        self.monitoring_path = monitoring_path
        self.scheduler, self.executor = scheduler, executor
        self.model_executor = executor if model_executor is None else model_executor
        self._served = {}  # model name -> its _Served metric children
        # unbatched calls: padded to powers of two up to this many rows (padding.py); None:
        # run as sent
        self.padding_limit = padding_limit
        self.max_body_bytes, self.timeout_s, self.cors = max_body_bytes, timeout_s, cors
        self.on_scrape = on_scrape

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] == "websocket":  # not served: refused (uvicorn answers 403)
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        # Match on the raw path, then percent-decode the names (TF's order): %2F in a model
        # name stays inside the name instead of becoming a path separator.
        raw = scope.get("raw_path")
        method = scope["method"]
        path = raw.decode("latin-1").split("?", 1)[0] if raw else scope["path"]
        headers = dict(scope["headers"])
        linger = False
        try:
            status, body, extra = await self._route(method, path, headers, receive)
        except _Reply as reply:
            status, body, extra, linger = reply.status, reply.body, reply.headers, reply.linger
        except Exception as exc:  # a bug, not the client's: logged, answered in JSON
            log.exception("internal error answering %s %s", method, path[:200])
            status, body, extra = 500, error_body(
                f"internal error: {type(exc).__name__}: {exc}"), _JSON
        if self.cors and path[:4].lower() == "/v1/":
            extra = [*extra, (b"access-control-allow-origin", b"*"),
                     (b"access-control-allow-methods", b"POST, GET"),
                     (b"access-control-allow-headers", b"Content-Type")]
        await send({"type": "http.response.start", "status": status,
                    "headers": [*extra, (b"content-length", str(len(body)).encode())]})
        if linger:
            # Lingering close: the whole answer goes out, but the response stays open (so
            # the connection does) while what the client is still sending is read and
            # dropped; closing on unread data would reset the connection before the client
            # read the 413.
            await send({"type": "http.response.body", "body": body, "more_body": True})
            await _drain(receive, LINGER_SECONDS)
            body = b""
        await send({"type": "http.response.body", "body": body})

    async def _route(self, method, path, headers, receive):
        if path == self.monitoring_path and method == "GET" and self.registry is not None:
            if self.on_scrape is not None:
                self.on_scrape()
            return 200, self.registry.render().encode(), [
                (b"content-type", b"text/plain; version=0.0.4")]
        if path.lower().startswith("/v1/"):
            return await self._v1(method, path, headers, receive)
        if path.lower() == "/v2" or path.lower().startswith("/v2/"):
            return await self._v2(method, path, headers, receive)
        raise _Reply(404, error_body(f"Not found: {method} {path}"))

    # -- TF Serving REST ------------------------------------------------------------------
    async def _v1(self, method, path, headers, receive):
        if method == "OPTIONS" and self.cors:
            origin = headers.get(b"origin", b"").decode("latin-1")
            if re.match(r"https?://", origin):
                return 200, b"", _JSON
        post = _V1_POST.fullmatch(path) if method == "POST" else None
        get = _V1_GET.fullmatch(path) if method == "GET" else None
        if post is None and get is None:
            raise _Reply(400, error_body(f"Malformed request: {method} {path}"))
        version = _version((post or get).group(2))
        if get is not None:
            name, _, label, metadata = get.groups()
            if name is None:
                raise _Reply(400, error_body("Missing model name in request."))
            name, label = _unquote(name), label and _unquote(label)
            try:
                if metadata:
                    return 200, self._metadata(name, version, label), _JSON
                return 200, rest_codec.status_response(
                    self.manager.status(name, version, label)), _JSON
            except ServingError as exc:
                raise _error(exc) from None
        name, _, label, verb = post.groups()
        name, label = _unquote(name), label and _unquote(label)
        try:
            # One timer per request over its body and its answer (not one for each): its
            # expiry cancels whatever is awaited then, a thread's parse included.
            async with asyncio.timeout(self.timeout_s):
                body = await self._body(headers, receive, name)
                start = time.perf_counter()
                reply = await self._predict(name, version, label, verb.lower(), body)
        except TimeoutError:
            self._count(name, "DEADLINE_EXCEEDED")
            raise _error(ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded")) from None
        except ServingError as exc:
            self._count(name, exc.code)
            raise _error(exc) from None
        self._served_ok(name, start)  # (only predict succeeds)
        return 200, reply, _JSON

    def _metadata(self, name, version, label):
        with self.manager.acquire(name, version, label) as servable:
            described = servable.described
            return rest_codec.metadata_response(name, servable.version, described)

    async def _codec(self, size, fn, *args):
        """`fn(*args)` (parsing or encoding a message of `size` bytes): on the event loop
        when small; a large one runs on a thread, so other connections (health checks
        included) keep being served. The request's timer (its caller's) bounds the wait."""
        if size < OFF_LOOP_BYTES:
            return fn(*args)
        return await _submit(self.executor, fn, *args)

    async def _predict(self, name, version, label, verb, body):
        with self.manager.acquire(name, version, label) as servable:
            described = servable.described
            if verb != "predict":
                raise ServingError("INVALID_ARGUMENT", f"signature of model {name!r} does "
                                   f"not support {verb}: xlaflow exports predict signatures")
            sig_name, inputs, row_format = await self._codec(
                len(body), rest_codec.parse_predict_request, body, described)
            signature = servable.signatures[sig_name]
            outputs = await self._run(name, servable, signature, inputs)
            return await self._codec(
                _reply_bytes(outputs), rest_codec.encode_predict_response,
                dict(zip(signature.output_names, outputs)), signature.output_names, row_format)

    async def _run(self, name, servable, signature, inputs):
        """The outputs of a predict call, batched or on the model threads; the caller's
        timer bounds the wait."""
        try:
            arrays = signature.prepare(inputs)
        except InputError as exc:
            raise ServingError("INVALID_ARGUMENT", str(exc)) from None
        start = time.perf_counter()
        batched = self.scheduler is not None and arrays and signature.shares_batch
        if batched:
            future = self.scheduler.run((name, servable.version, signature.name),
                                        signature.call_flat, arrays, name)
        else:
            future = _submit(self.model_executor, padding.call, signature, arrays,
                             self.padding_limit)
        try:  # (the deadline's expiry cancels this await: a BaseException, not caught here)
            outputs = await future
        except ServingError:
            raise
        except Exception as exc:  # noqa: BLE001 - the runtime refused the inputs: the client's
            raise ServingError("INVALID_ARGUMENT", f"{type(exc).__name__}: {exc}") from None
        if self.metrics is not None:
            self._series(name).runtime.observe((time.perf_counter() - start) * 1e6)
        return outputs

    def _series(self, name):
        """The metric children a successful predict of model `name` updates, looked up once
        per model: .labels() builds and looks up a key, ~1 µs, several times a request."""
        series = self._served.get(name)
        if series is None:
            series = self._served[name] = _Served(self.metrics, name)
        return series

    def _served_ok(self, name, start):
        """Count a successful predict of model `name` that began at `start`."""
        if self.metrics is not None:
            series = self._series(name)
            series.ok.inc()
            series.latency.observe((time.perf_counter() - start) * 1e6)

    def _count(self, name, status):
        if self.metrics is None:
            return
        if status != "OK" and name not in self.manager.models():
            # One series for all names no model has: a series per made-up name would let
            # clients grow the server's memory and every scrape without bound.
            name = UNKNOWN_MODEL
        self.metrics.request_count.labels(model_name=name, status=status).inc()

    # -- Open Inference Protocol ----------------------------------------------------------
    async def _v2(self, method, path, headers, receive):
        lower = path.lower().rstrip("/")
        if method == "GET" and lower == "/v2":
            return 200, json.dumps(v2_codec.server_metadata()).encode(), _JSON
        # The health checks answer HEAD as GET (uvicorn sends no body): probes use either.
        get = method in ("GET", "HEAD")
        if get and lower == "/v2/health/live":
            return 200, b"", _JSON
        if get and lower == "/v2/health/ready":
            ready = all(self.manager.is_ready(m) for m in self.manager.models())
            if ready:
                return 200, b"", _JSON
            raise _Reply(400, error_body("not all models are ready"))
        match = _V2_MODEL.fullmatch(path)
        if match is None:
            raise _Reply(404 if method == "GET" else 400,
                         error_body(f"Malformed request: {method} {path}"))
        name, version, verb = _unquote(match.group(1)), match.group(2), \
            (match.group(3) or "").lower()
        version = _version(version)
        try:
            if verb == "/ready" and get:
                if self.manager.is_ready(name, version):
                    return 200, b"", _JSON
                raise ServingError("NOT_FOUND", f"model {name!r} version {version or 'latest'} "
                                   "is not ready")
            if verb == "" and method == "GET":
                with self.manager.acquire(name, version) as servable:
                    versions = [str(v) for v, state, _, _ in self.manager.status(name)
                                if state == "AVAILABLE"]
                    signature = servable.signatures.get("serving_default") or next(
                        iter(servable.signatures.values()))
                    return 200, json.dumps(v2_codec.model_metadata(
                        name, versions, signature.description)).encode(), _JSON
            if verb == "/infer" and method == "POST":
                return await self._infer(name, version, headers, receive)
        except ServingError as exc:
            if verb == "/infer":
                self._count(name, exc.code)
            raise _error(exc) from None
        raise _Reply(400, error_body(f"Malformed request: {method} {path}"))

    async def _infer(self, name, version, headers, receive):
        try:  # one timer over the body and the answer, as in _v1
            async with asyncio.timeout(self.timeout_s):
                return await self._infer_by(name, version, headers, receive)
        except TimeoutError:
            raise ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded") from None

    async def _infer_by(self, name, version, headers, receive):
        body = await self._body(headers, receive, name)
        header_length = headers.get(b"inference-header-content-length")
        if header_length is not None:
            if not header_length.strip().isdigit():
                raise ServingError("INVALID_ARGUMENT", "Inference-Header-Content-Length must "
                                   "be a byte count; received "
                                   f"{header_length[:40].decode('latin-1')!r}")
            header_length = int(header_length)
        start = time.perf_counter()
        with self.manager.acquire(name, version) as servable:
            signature = servable.signatures.get("serving_default") or next(
                iter(servable.signatures.values()))
            request_id, inputs, requested, binary = await self._codec(
                len(body), v2_codec.parse_infer_request, body, header_length,
                signature.description)
            outputs = await self._run(name, servable, signature, inputs)
            reply, extra = await self._codec(
                _reply_bytes(outputs), v2_codec.encode_infer_response,
                name, servable.version, request_id, dict(zip(signature.output_names, outputs)),
                signature.output_names, requested, binary)
        self._served_ok(name, start)
        return 200, reply, [(k.lower().encode(), str(v).encode()) for k, v in extra.items()] \
            or _JSON


class _Served:
    """One model's metric children on the success path of predict (REST and v2 alike)."""

    __slots__ = ("latency", "ok", "runtime")

    def __init__(self, metrics, name):
        self.ok = metrics.request_count.labels(model_name=name, status="OK")
        self.latency = metrics.request_latency.labels(model_name=name, API="predict",
                                                      entrypoint="REST")
        self.runtime = metrics.runtime_latency.labels(model_name=name, API="predict",
                                                      runtime="XLA")


def _submit(executor, fn, *args):
    """`fn(*args)` on a thread of `executor` (Workers, or any Executor; None: asyncio's
    default) as an asyncio future."""
    if isinstance(executor, Workers):
        return executor.submit(fn, *args)
    return asyncio.get_running_loop().run_in_executor(executor, fn, *args)


def _reply_bytes(outputs):
    return sum(np.size(o) for o in outputs) * _JSON_BYTES_PER_VALUE


def _version(text):
    """A version from a path, without leading zeros; one beyond int64 (TF parses it so) is
    a 400, found before any int() of thousands of digits."""
    if text is None:
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > 19 or int(digits) > _INT64_MAX:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise _Reply(400, error_body(f"Failed to convert version: {shown} to numeric."))
    return digits


def _unquote(text):
    return urllib.parse.unquote(text) if "%" in text else text  # (~5 µs saved)
