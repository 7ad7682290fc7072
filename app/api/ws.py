"""`/ws`: live events for browsers and integrations, with the original protocol.

The client sends `{"type": "subscribe", "topics": ["measurements", ...]}` (optionally `"enseigne"` and
`"salle"` to narrow measurements); the server sends typed messages (`measurement`, `prediction`, `action`,
`alert`, `module_state`). Each client has a bounded queue: one that cannot keep up is closed (code 1013)
instead of slowing ingestion down or making the server hold unbounded memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.core.bus import TOPICS, Measurement, normalise_topic
from app.runtime import Runtime
from services.scope import OutOfScope, Sites, check_site, visible

log = logging.getLogger(__name__)


class _Client:
    """One connection: its subscriptions and a bounded backlog of messages not yet sent."""

    def __init__(self, runtime: Runtime, sites: Sites = None):
        self.sites = sites  # a site-limited principal's sites: events of other sites never reach it
        self.queue: asyncio.Queue[list[str]] = asyncio.Queue()
        self.limit = runtime.settings.ws_queue_size
        self.pending = 0  # messages queued, not yet sent
        self.topics: set[str] = set()
        self.site: str | None = None
        self.room: str | None = None
        self.overflowed = asyncio.Event()

    def push_many(self, messages: list[dict[str, Any]]) -> None:
        if self.overflowed.is_set() or not messages:
            return
        if self.pending + len(messages) > self.limit:
            self.overflowed.set()
            return
        self.pending += len(messages)
        self.queue.put_nowait([json.dumps(m, separators=(",", ":")) for m in messages])

    def push(self, message: dict[str, Any]) -> None:
        self.push_many([message])

    def on_measurements(self, batch: list[Measurement]) -> None:
        if "measurements" not in self.topics:
            return
        self.push_many(
            [
                {"type": "measurement", "data": m.as_message()}
                for m in batch
                if (self.site is None or m.site == self.site)
                and (self.room is None or m.room == self.room)
                and visible(self.sites, m)
            ]
        )

    def forward(self, topic: str):
        kind = TOPICS[topic]

        def handler(payload: dict[str, Any]) -> None:
            if topic in self.topics and visible(self.sites, payload):
                self.push({"type": kind, "data": payload})

        return handler


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["live"])
    bus, metrics = runtime.bus, runtime.metrics

    @r.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        principal = getattr(websocket.state, "principal", None)
        client = _Client(runtime, principal.sites if principal is not None else frozenset())
        handlers = [(bus.measurements, client.on_measurements)]
        handlers += [(bus.topic(t), client.forward(t)) for t in TOPICS if t != "measurements"]
        for event, handler in handlers:
            event.subscribe(handler, unsubscribe_on_delete=False)
        metrics.ws_subscribers.inc()

        async def send() -> None:
            while True:
                for text in await client.queue.get():
                    await websocket.send_text(text)
                    client.pending -= 1

        async def receive() -> None:
            while True:
                try:
                    message = json.loads(await websocket.receive_text())
                except (json.JSONDecodeError, UnicodeDecodeError):
                    client.push({"type": "error", "message": "send JSON messages"})
                    continue
                handle(client, message)

        tasks = [
            asyncio.create_task(send()),
            asyncio.create_task(receive()),
            asyncio.create_task(client.overflowed.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if tasks[2] in done:
                metrics.ws_dropped.inc()
                await websocket.close(code=1013, reason="too slow: messages were piling up; reconnect")
            for task in done:
                if (
                    not task.cancelled()
                    and task.exception()
                    and not isinstance(task.exception(), WebSocketDisconnect | RuntimeError)
                ):
                    log.warning("/ws client ended with %r", task.exception())
        except WebSocketDisconnect:
            pass
        finally:
            for task in tasks:
                task.cancel()
            for event, handler in handlers:
                event.unsubscribe(handler)
            metrics.ws_subscribers.dec()

    return r


def handle(client: _Client, message: Any) -> None:
    if not isinstance(message, dict):
        client.push({"type": "error", "message": "messages are JSON objects with a 'type'"})
        return
    kind = message.get("type")
    if kind in {"subscribe", "unsubscribe"}:
        names = message.get("topics") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            client.push({"type": "error", "message": "topics must be a list of names"})
            return
        topics = {normalise_topic(n) for n in names}
        unknown = [n for n in names if normalise_topic(n) is None]
        if unknown:
            client.push({"type": "error", "message": f"unknown topics {unknown}; known: {sorted(TOPICS)}"})
        topics.discard(None)
        if kind == "subscribe":
            client.topics |= topics  # type: ignore[arg-type]
            client.site = message.get("enseigne") if isinstance(message.get("enseigne"), str) else None
            try:
                check_site(client.sites, client.site)  # the same check as every request's names
            except OutOfScope as refused:
                client.push({"type": "error", "message": str(refused)})
            client.room = message.get("salle") if isinstance(message.get("salle"), str) else None
        else:
            client.topics -= topics  # type: ignore[arg-type]
        client.push({"type": "subscribed", "topics": sorted(client.topics)})
    elif kind == "ping":
        client.push({"type": "pong"})
    else:
        client.push(
            {"type": "error", "message": f"unknown message type {kind!r}; use subscribe, unsubscribe, ping"}
        )
