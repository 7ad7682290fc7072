"""The MQTT bridge: one connection to the broker for commands, device states and MQTT sensors.

Topic scheme (docs/mqtt.md); `<prefix>` is `iaqverse` by default, names are slugged (`Head office` ->
`head-office`):
- `<prefix>/<site>/<room>/<module>/set`   command to a device, JSON, QoS 1, not retained
- `<prefix>/<site>/<room>/<module>/state` state the device reports, JSON, retained (the acknowledgement)
- `<prefix>/<site>/<room>/<module>/availability` `online`/`offline`, the device's last will
- `<prefix>/<site>/<room>/sensors/<sensor_id>`  readings, the body of `POST /api/ingest` (+ `api_key`)
- `<prefix>/platform/<client id>/status`  `online`/`offline`, retained, this process's last will

The bridge reconnects with exponential backoff and subscribes again on every connection (a clean session
forgets subscriptions). Commands sent while the connection is down wait in a small outbox (the newest per
module) and go out on reconnection; the module service's timeout still applies to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt

log = logging.getLogger(__name__)

Handler = Callable[[str, Any], Awaitable[None]]
# paho writes a packet in pieces; with Nagle's algorithm the last piece waits for the broker's delayed ACK
# (~40 ms on Linux), which a QoS 1 command would pay on every publication
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
MAX_INGEST_TASKS = 256  # readings being ingested at once; beyond, the message loop waits (backpressure)


class MessageRejected(ValueError):
    """An MQTT message the platform does not accept (its reason goes to the sender's `.../error` topic)."""


class MqttBridge:
    name = "mqtt"

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        on_state: Handler,
        on_availability: Handler,
        on_reading: Handler,
        prefix: str = "iaqverse",
        client_id: str = "iaqverse",
        username: str | None = None,
        password: str | None = None,
        keepalive_s: int = 30,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ):
        self.host, self.port, self.prefix, self.client_id = host, port, prefix, client_id
        self.username, self.password, self.keepalive_s = username, password, keepalive_s
        self.on_state, self.on_availability, self.on_reading = on_state, on_availability, on_reading
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.status_topic = f"{prefix}/platform/{client_id}/status"
        self.connects = 0  # successful connections since start (a reconnection adds one)
        self.last_error: str | None = None
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._outbox: dict[str, bytes] = {}
        self._tasks: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(MAX_INGEST_TASKS)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def subscriptions(self) -> list[str]:
        p = self.prefix
        return [f"{p}/+/+/+/state", f"{p}/+/+/+/availability", f"{p}/+/+/sensors/+"]

    async def run(self) -> None:
        """Connect, subscribe, dispatch messages; on any connection error wait and start again. Runs until
        cancelled."""
        delay = self.backoff_s
        will = aiomqtt.Will(self.status_topic, b"offline", qos=1, retain=True)
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=self.client_id, will=will, keepalive=self.keepalive_s,
                    username=self.username, password=self.password, timeout=10,
                    socket_options=NO_DELAY,
                ) as client:  # fmt: skip
                    await client.publish(self.status_topic, b"online", qos=1, retain=True)
                    for topic in self.subscriptions:
                        await client.subscribe(topic, qos=1)
                    self._client = client
                    self._connected.set()
                    self.connects += 1
                    self.last_error = None
                    delay = self.backoff_s
                    log.info("MQTT connected to %s:%d (connection %d)", self.host, self.port, self.connects)
                    await self._flush_outbox(client)
                    async for message in client.messages:
                        await self._dispatch(str(message.topic), message.payload)
            except aiomqtt.MqttError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("MQTT connection to %s:%d lost or refused (%s); retrying in %.1f s",
                            self.host, self.port, exc, delay)  # fmt: skip
            finally:
                self._connected.clear()
                self._client = None
            # jitter: many instances that lost the broker together do not retry in step
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.max_backoff_s)

    async def stop(self) -> None:
        """Say `offline` on the status topic (a clean disconnect does not send the will)."""
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await asyncio.wait_for(client.publish(self.status_topic, b"offline", qos=1, retain=True), 2)
        for task in list(self._tasks):
            task.cancel()

    async def send_command(self, topic: str, command: dict[str, Any]) -> None:
        payload = json.dumps(command, separators=(",", ":")).encode()
        client = self._client
        if client is None or not self.connected:
            self._outbox[topic] = payload  # the newest command per module wins
            return
        try:
            await client.publish(f"{topic}/set", payload, qos=1)
        except aiomqtt.MqttError:
            self._outbox[topic] = payload

    async def _flush_outbox(self, client: aiomqtt.Client) -> None:
        while self._outbox:
            topic, payload = next(iter(self._outbox.items()))
            await client.publish(f"{topic}/set", payload, qos=1)
            if self._outbox.get(topic) is payload:
                del self._outbox[topic]

    async def _dispatch(self, topic: str, raw: Any) -> None:
        levels = topic.split("/")
        try:
            if len(levels) == 5 and levels[3] == "sensors":
                payload = _json_readings(raw)
                for item in payload if isinstance(payload, list) else [payload]:
                    item.setdefault("sensor_id", levels[4])
                await self._slots.acquire()
                task = asyncio.create_task(self._ingest(topic, payload))
                self._tasks.add(task)
                task.add_done_callback(self._ingest_done)
            elif len(levels) == 5 and levels[4] == "state":
                if raw in (b"", None):
                    return  # a retained state being cleared
                await self.on_state("/".join(levels[:4]), _json_object(raw))
            elif len(levels) == 5 and levels[4] == "availability":
                text = bytes(raw or b"").decode(errors="replace").strip().lower()
                await self.on_availability("/".join(levels[:4]), text == "online")
        except MessageRejected as exc:
            log.info("MQTT message on %s refused: %s", topic, exc)
            await self._report_error(topic, str(exc))
        except Exception:
            log.exception("MQTT message on %s could not be handled", topic)

    async def _ingest(self, topic: str, payload: Any) -> None:
        try:
            await self.on_reading(topic, payload)
        except MessageRejected as exc:
            await self._report_error(topic, str(exc))

    def _ingest_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("MQTT reading could not be ingested", exc_info=task.exception())

    async def _report_error(self, topic: str, message: str) -> None:
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(f"{topic}/error", json.dumps({"error": message}).encode(), qos=0)


def _json_readings(raw: Any) -> dict[str, Any] | list[dict[str, Any]]:
    """One reading (an object) or a batch (a list of objects), as `POST /api/ingest` takes them."""
    try:
        value = json.loads(bytes(raw or b""))
    except (ValueError, UnicodeDecodeError):
        raise MessageRejected("the payload is not JSON") from None
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return value
    if not isinstance(value, dict):
        raise MessageRejected("the payload must be a reading (a JSON object) or a non-empty list of them")
    return value


def _json_object(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(bytes(raw or b""))
    except (ValueError, UnicodeDecodeError):
        raise MessageRejected("the payload is not JSON") from None
    if not isinstance(value, dict):
        raise MessageRejected("the payload must be a JSON object")
    return value
