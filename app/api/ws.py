"""`/ws`: live events for browsers and integrations, with the original product's protocol, and `/ws/stats`.

A new connection is subscribed to `all` (every topic) and greeted with a `connection` message. The client
sends `{"type": "subscribe", "topics": [...]}` to add topics (optionally with `"enseigne"` and `"salle"` to
narrow measurements), `unsubscribe` to drop some (`all` included, to receive only the topics it named), and
`ping`. Messages are flat, as the original's clients read them: `{"type": "measurement", "timestamp",
"sensor_id", "enseigne", "salle", "values": {...}, "co2": ..., "global_score": ...}`, and likewise
`prediction`, `action`, `alert`, `module_state` with their fields at the top level.

Each event is encoded once for every client (the hub), and each client has a bounded queue: one that
cannot keep up is closed (code 1013) instead of slowing ingestion down or making the server hold unbounded
memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from app.core.bus import TOPICS, Measurement, normalise_topic
from app.core.domain.metrics import CORE_METRICS
from app.core.domain.score import room_score
from app.core.domain.timesteps import iso_ms
from app.runtime import Runtime
from services.scope import OutOfScope, Sites, check_site, visible

log = logging.getLogger(__name__)
ALL = "all"


class WsStats(BaseModel):
    """The original's `/ws/stats` (`total_connections`; `active_connections` is the same figure)."""

    total_connections: int
    active_connections: int
    subscriptions: dict[str, int]


_LEVELS = {"critical": "danger"}  # the original's alert levels: info, warning, danger


def _flat(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """An event as the original's messages carry it: the type, a timestamp, the payload's fields at the top,
    and the names its WEBSOCKET.md gives them beside IAQverse's. A module's MQTT topic is `mqtt_topic` there:
    the original's browser client dispatches a message that has a `topic` to that topic's listeners."""
    message: dict[str, Any] = {"type": kind, "timestamp": iso_ms(int(time.time() * 1000))}
    for key, value in payload.items():
        message["mqtt_topic" if key == "topic" else key] = value
    if kind == "alert":
        severity = payload.get("severity")
        message.update(
            level=_LEVELS.get(severity, severity),
            parameter=payload.get("metric"),
            message=f"{payload.get('rule')}: {payload.get('metric')} = {payload.get('value')}",
        )
    elif kind == "prediction" and payload.get("forecasts"):
        first = payload["forecasts"][0]
        message.update(
            predictions={payload.get("metric"): first["value"]}, forecast_minutes=first["horizon_min"]
        )
    return message


class _Client:
    """One connection: its subscriptions and a bounded backlog of messages not yet sent."""

    def __init__(self, limit: int, sites: Sites = None):
        self.sites = sites  # a site-limited principal's sites: events of other sites never reach it
        self.queue: asyncio.Queue[list[str]] = asyncio.Queue()
        self.limit = limit
        self.pending = 0  # messages queued, not yet sent
        self.topics: set[str] = {ALL}
        self.site: str | None = None
        self.room: str | None = None
        self.overflowed = asyncio.Event()

    def wants(self, topic: str) -> bool:
        return ALL in self.topics or topic in self.topics

    def push_texts(self, texts: list[str]) -> None:
        if self.overflowed.is_set() or not texts:
            return
        if self.pending + len(texts) > self.limit:
            self.overflowed.set()
            return
        self.pending += len(texts)
        self.queue.put_nowait(texts)

    def push(self, message: dict[str, Any]) -> None:
        self.push_texts([json.dumps(message, separators=(",", ":"))])

    def on_measurements(self, encoded: list[tuple[Measurement, str]]) -> None:
        if not self.wants("measurements"):
            return
        self.push_texts(
            [
                text
                for m, text in encoded
                if (self.site is None or m.site == self.site)
                and (self.room is None or m.room == self.room)
                and visible(self.sites, m)
            ]
        )

    def on_event(self, topic: str, payload: dict[str, Any], text: str) -> None:
        if self.wants(topic) and visible(self.sites, payload):
            self.push_texts([text])


class Hub:
    """The bus's events, encoded once, to every connected client."""

    def __init__(self, runtime: Runtime):
        self.runtime, self.clients = runtime, set[_Client]()
        self._subscribed = False

    def attach(self, client: _Client) -> None:
        if not self._subscribed:  # once per process, when the first client comes
            bus = self.runtime.bus
            bus.measurements.subscribe(self.on_measurements, unsubscribe_on_delete=False)
            for topic in TOPICS:
                if topic != "measurements":
                    bus.topic(topic).subscribe(self._forward(topic), unsubscribe_on_delete=False)
            self._subscribed = True
        self.clients.add(client)

    def detach(self, client: _Client) -> None:
        self.clients.discard(client)

    def measurement(self, m: Measurement) -> dict[str, Any]:
        message = _flat("measurement", m.as_message())
        for name, value in m.values.items():  # the original's clients read the metrics at the top level
            if name in CORE_METRICS or name not in message:
                message[name] = value
        score = room_score(m.values, self.runtime.scoring.thresholds_for(m.room_id, m.site))
        message["global_score"] = score.score if score else None
        message["global_level"] = score.level if score else None
        return message

    def on_measurements(self, batch: list[Measurement]) -> None:
        if not self.clients or not any(c.wants("measurements") for c in self.clients):
            return
        encoded = [(m, json.dumps(self.measurement(m), separators=(",", ":"))) for m in batch]
        for client in list(self.clients):
            client.on_measurements(encoded)

    def _forward(self, topic: str):
        kind = TOPICS[topic]

        def handler(payload: dict[str, Any]) -> None:
            if not self.clients:
                return
            text = json.dumps(_flat(kind, payload), separators=(",", ":"))
            for client in list(self.clients):
                client.on_event(topic, payload, text)

        return handler

    def stats(self) -> dict[str, Any]:
        counts = {name: 0 for name in (*TOPICS, ALL)}
        for client in self.clients:
            for topic in client.topics:
                counts[topic] = counts.get(topic, 0) + 1
        counts["modules"] = counts["module_states"]  # the original's name of that topic
        n = len(self.clients)
        return {"total_connections": n, "active_connections": n, "subscriptions": counts}


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["live"])
    metrics = runtime.metrics
    hub = Hub(runtime)

    @r.get("/ws/stats", response_model=WsStats)
    async def ws_stats() -> dict[str, Any]:
        """The original's statistics of the live connections: how many, and how many per topic."""
        return hub.stats()

    @r.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        principal = getattr(websocket.state, "principal", None)
        client = _Client(
            runtime.settings.ws_queue_size, principal.sites if principal is not None else frozenset()
        )
        hub.attach(client)
        metrics.ws_subscribers.inc()
        greeting = {"type": "connection", "status": "connected", "subscriptions": [ALL]}
        client.push({**greeting, "timestamp": iso_ms(int(time.time() * 1000))})

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
            hub.detach(client)
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
        topics = {ALL if n.strip().lower() == ALL else normalise_topic(n) for n in names}
        unknown = [n for n in names if n.strip().lower() != ALL and normalise_topic(n) is None]
        if unknown:
            known = sorted([*TOPICS, ALL])
            client.push({"type": "error", "message": f"unknown topics {unknown}; known: {known}"})
        topics.discard(None)
        if kind == "subscribe":
            site = message.get("enseigne") if isinstance(message.get("enseigne"), str) else None
            try:
                check_site(client.sites, site)  # the same check as every request's names
            except OutOfScope as refused:
                client.push({"type": "error", "message": str(refused)})  # and nothing changes
                return
            client.topics |= topics  # type: ignore[arg-type]
            client.site = site
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
