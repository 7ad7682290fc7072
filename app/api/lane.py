"""A short path for device ingestion, in two layers.

1. Through the ASGI stack (`DeviceLane`): NiceGUI wraps every request in middleware made for pages: sessions,
   gzip and three `BaseHTTPMiddleware` layers that each start a task group; FastAPI adds routing, dependency
   solving and exception wrapping. Measured here (docs/benchmarks.md), that stack limits a sensor POST to a
   fraction of what storing it costs. So `POST /api/ingest` and `POST /iaq` go from the outermost layer
   straight to the lane app (`IngestEndpoint`), which shares its work and its error answers with the FastAPI
   routes (those stay, and document the contract). Everything else takes the full stack.
2. Under the ASGI stack (`lane_http_protocol`): when the platform runs under uvicorn with httptools, each
   connection uses a subclass of uvicorn's own HTTP protocol that hands a POST to a lane path, once its body
   has arrived, to the same lane app directly. That skips uvicorn's per-request cycle object, its event,
   its proxy-header middleware and the ASGI layers above the lane, which together cost more per request than
   validating the reading. Anything unusual (another method, `Expect: 100-continue`, a pipelined request
   behind a running one, a declared body over the limit, a WebSocket upgrade) takes uvicorn's normal path,
   which reaches the same lane app through layer 1, so the answers are the same either way.
"""

from __future__ import annotations

import logging
from time import perf_counter

from fastapi import FastAPI

from app.auth.edge import Edge

LANE_PATHS = frozenset({"/api/ingest", "/iaq", "/api/iaq"})
_LANE_PATHS_RAW = frozenset(p.encode() for p in LANE_PATHS)
log = logging.getLogger(__name__)


class DeviceLane:
    """The outermost ASGI layer: the edge's work (app/auth/edge.py) for every request, then the lane for
    LANE_PATHS and the full stack for the rest."""

    def __init__(self, full_stack, lane, edge: Edge):
        self.full_stack, self.lane, self.edge = full_stack, lane, edge

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            self.edge.forwarded(scope)
        if kind == "http":
            send = self.edge.wrap_send(scope, send)
            if scope["path"] in LANE_PATHS:
                return await self.lane(scope, receive, send)
        return await self.full_stack(scope, receive, send)


def install_device_lane(app: FastAPI, lane, edge: Edge) -> None:
    """Make the app's middleware stack start with the lane (an ASGI app for LANE_PATHS).
    Safe to call again: the `user` test fixture rebuilds the app for every test."""
    original = app.__dict__.get("_iaq_original_build") or app.build_middleware_stack
    app.__dict__["_iaq_original_build"] = original
    app.__dict__["_iaq_lane"] = lane
    app.__dict__["_iaq_edge"] = edge
    app.build_middleware_stack = lambda: DeviceLane(original(), lane, edge)
    app.middleware_stack = None


def lane_http_protocol(app: FastAPI, max_body_bytes: int):
    """uvicorn's `http` protocol class for serving `app` with the lane of layer 2, or "auto" (uvicorn's own
    choice) when httptools is missing or this uvicorn's protocol does not have the shape relied on here."""
    lane = app.__dict__.get("_iaq_lane")
    edge: Edge = app.__dict__["_iaq_edge"]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # no httptools: uvicorn falls back to h11, which the lane does not extend
        return "auto"
    expected = ("on_headers_complete", "on_body", "on_message_complete", "on_response_complete", "shutdown")
    if lane is None or not all(hasattr(HttpToolsProtocol, name) for name in expected):
        log.warning("device lane protocol not used: uvicorn's HTTP protocol has changed shape")
        return "auto"
    limit = max_body_bytes
    # A lane app that records latencies itself (LatencyMiddleware) is called through its inner app, and the
    # protocol records the latency: one ASGI layer less per request.
    observe = getattr(lane, "observe", None)
    endpoint = getattr(lane, "asgi", lane) if observe is not None else lane

    class LaneHttpProtocol(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            cycle = self.cycle
            if (
                self.root_path
                or self.expect_100_continue
                or (cycle is not None and not cycle.response_complete)  # pipelined: keep uvicorn's order
                or self.parser.get_method() != b"POST"
                or self.parser.should_upgrade()
            ):
                return super().on_headers_complete()
            url = self.url
            path, _, query = url.partition(b"?")
            if path not in _LANE_PATHS_RAW or _declared_length(self.headers) > limit:
                return super().on_headers_complete()
            http_version = self.parser.get_http_version()
            scope = self.scope
            scope["method"] = "POST"
            scope["path"] = path.decode("ascii")
            scope["raw_path"] = path
            scope["query_string"] = query
            if http_version != "1.1":
                scope["http_version"] = http_version
            edge.forwarded(scope)
            self.cycle = _Exchange(self, scope, http_version != "1.0" and self.parser.should_keep_alive())

        def on_body(self, body: bytes) -> None:
            cycle = self.cycle
            if type(cycle) is not _Exchange:
                return super().on_body(body)
            if len(cycle.body) <= limit:  # past the limit keep one byte more than it, to answer 413
                cycle.body += body[: limit + 1 - len(cycle.body)]

        def on_message_complete(self) -> None:
            cycle = self.cycle
            if type(cycle) is not _Exchange:
                return super().on_message_complete()
            if not cycle.response_complete and cycle.more_body:
                cycle.more_body = False
                cycle.started = perf_counter()
                task = self.loop.create_task(endpoint(cycle.scope, cycle.receive, cycle.send))
                task.add_done_callback(cycle.finished)
                self.tasks.add(task)

    class _Exchange:
        """One request on the lane: what uvicorn's protocol reads of a cycle, plus the ASGI receive/send."""

        __slots__ = (
            "body",
            "disconnected",
            "headers",
            "keep_alive",
            "more_body",
            "protocol",
            "response_complete",
            "scope",
            "started",
            "status",
        )  # fmt: skip
        message_event = _NoEvent  # the protocol calls message_event.set() when the connection is lost

        def __init__(self, protocol, scope, keep_alive: bool):
            self.protocol, self.scope, self.keep_alive = protocol, scope, keep_alive
            self.body, self.more_body = bytearray(), True
            self.disconnected = self.response_complete = False
            self.status, self.headers, self.started = 500, (), 0.0

        async def receive(self) -> dict:
            if self.disconnected or self.response_complete:
                return {"type": "http.disconnect"}
            body, self.body = bytes(self.body), bytearray()
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(self, message: dict) -> None:
            if message["type"] == "http.response.start":
                self.status, self.headers = message["status"], message.get("headers", ())
                return
            if message.get("more_body"):  # the lane answers in one piece
                raise RuntimeError("the device lane sends whole bodies")
            self._answer(self.status, self.headers, message.get("body", b""))

        def _answer(self, status: int, headers, body: bytes) -> None:
            protocol = self.protocol
            self.response_complete = True
            if observe is not None:
                observe("POST", self.scope["path"], status, perf_counter() - self.started)
            if self.disconnected or protocol.transport.is_closing():
                return
            out = [_status_line(status)]
            for name, value in protocol.server_state.default_headers:
                out += (name, b": ", value, b"\r\n")
            for name, value in headers:
                out += (name, b": ", value, b"\r\n")
            out.append(edge.lane_https_lines if edge.secure(self.scope) else edge.lane_lines)
            if not self.keep_alive:
                out.append(b"connection: close\r\n")
            out += (b"\r\n", body)
            protocol.transport.write(b"".join(out))
            if not self.keep_alive:
                protocol.transport.close()
            protocol.on_response_complete()

        def finished(self, task) -> None:
            self.protocol.tasks.discard(task)
            exc = None if task.cancelled() else task.exception()
            if exc is not None:
                log.error("exception in the device lane", exc_info=exc)
            if not self.response_complete:
                self.keep_alive = False
                plain = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21")]
                self._answer(500, plain, b"Internal Server Error")

    return LaneHttpProtocol


class _NoEvent:
    @staticmethod
    def set() -> None:
        pass


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.strip().isdigit() else 0
    return 0


_STATUS_LINES: dict[int, bytes] = {}


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        from http import HTTPStatus

        try:
            phrase = HTTPStatus(status).phrase.encode()
        except ValueError:
            phrase = b""
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d %s\r\n" % (status, phrase)
    return line
