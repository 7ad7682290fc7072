"""The MQTT bridge: one connection to the broker for commands, device states and MQTT sensors.

Topic scheme (docs/mqtt.md); `<prefix>` is `iaqverse` by default, names are slugged (`Head office` ->
`head-office`):
- `<prefix>/<site>/<room>/<module>/set`   command to a device, JSON, QoS 1, not retained
- `<prefix>/<site>/<room>/<module>/state` state the device reports, JSON, retained (the acknowledgement)
- `<prefix>/<site>/<room>/<module>/availability` `online`/`offline`, the device's last will
- `<prefix>/<site>/<room>/sensors/<sensor_id>`  readings, the body of `POST /api/ingest` (+ `api_key`)
- `<prefix>/platform/<client id>/status`  `online`/`offline`, retained, this process's last will

The bridge reconnects with exponential backoff and subscribes again on every connection (a clean session
forgets subscriptions). It speaks MQTT 5 and falls back to 3.1.1 for a broker that refuses it.

A command carries its deadline (`expires_ms`, the module service's timeout). Sent while the connection is
up, it goes with MQTT 5's message expiry interval, so a broker that queues it for an offline device (a
persistent session) drops it when it has expired instead of delivering it late. Sent while the connection
is down, it waits in a small outbox (the newest per module) and goes out on reconnection only if it has not
expired and the module service still wants it (`is_current`): equipment never moves on an order the
operator was told had failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .devices import DeviceListener, ReadingListener

log = logging.getLogger(__name__)

Handler = Callable[[str, Any], Awaitable[None]]
# paho writes a packet in pieces; with Nagle's algorithm the last piece waits for the broker's delayed ACK
# (~40 ms on Linux), which a QoS 1 command would pay on every publication
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
MAX_INGEST_TASKS = 256  # readings being ingested at once; beyond, the message loop waits (backpressure)
_REFUSED_PROTOCOL = (1, 132)  # CONNACK codes of 3.1.1 and 5 for "unsupported protocol version"


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A command not sent yet: its payload, its deadline (ms since 1970, None: none) and its action."""

    payload: bytes
    expires_ms: int | None
    action_id: int | None


def _code(exc: aiomqtt.MqttCodeError) -> int | None:
    rc = exc.rc
    return rc if isinstance(rc, int) else getattr(rc, "value", None)


async def _unheard(topic: str, payload: Any) -> None:
    log.warning("MQTT message on %s before anything listened: dropped", topic)


class MessageRejected(ValueError):
    """An MQTT message the platform does not accept (its reason goes to the sender's `.../error` topic)."""


class MqttBridge:
    name = "mqtt"

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
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
        self.on_state: Handler = _unheard
        self.on_availability: Handler = _unheard
        self.on_reading: Handler = _unheard
        self.is_current: Callable[[int], bool] = lambda action_id: True
        self.clock: Callable[[], float] = time.time
        self.protocol = aiomqtt.ProtocolVersion.V5  # 3.1.1 once a broker refused it
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.status_topic = f"{prefix}/platform/{client_id}/status"
        self.connects = 0  # successful connections since start (a reconnection adds one)
        self.last_error: str | None = None
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._outbox: dict[str, _Waiting] = {}  # module topic -> its newest command not sent yet
        self.dropped = 0  # commands dropped unsent because they expired or were no longer wanted
        self._tasks: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(MAX_INGEST_TASKS)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def listen_devices(self, devices: DeviceListener) -> None:
        self.on_state, self.on_availability = devices.report_state, devices.report_availability
        self.is_current, self.clock = devices.is_current, lambda: devices.clock()

    def listen_readings(self, readings: ReadingListener) -> None:
        self.on_reading = readings.receive

    @property
    def subscriptions(self) -> list[str]:
        p = self.prefix
        return [f"{p}/+/+/+/state", f"{p}/+/+/+/availability", f"{p}/+/+/sensors/+"]

    async def run(self) -> None:
        """Connect, subscribe, dispatch messages; on any connection error wait and start again. Runs until
        cancelled."""
        delay = self.backoff_s
        will = aiomqtt.Will(self.status_topic, b"offline", qos=1, retain=True)
        lost_at: float | None = None  # when the connection was lost (or first refused)
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=self.client_id, will=will, keepalive=self.keepalive_s,
                    username=self.username, password=self.password, timeout=10,
                    socket_options=NO_DELAY, protocol=self.protocol,
                ) as client:  # fmt: skip
                    await client.publish(self.status_topic, b"online", qos=1, retain=True)
                    for topic in self.subscriptions:
                        await client.subscribe(topic, qos=1)
                    self._client = client
                    self._connected.set()
                    self.connects += 1
                    self.last_error = None
                    delay = self.backoff_s
                    waiting, dropped = len(self._outbox), self.dropped
                    await self._flush_outbox(client)
                    if lost_at is None:
                        log.info("MQTT connected to %s:%d", self.host, self.port)
                    else:
                        gone = self.dropped - dropped
                        log.warning(
                            "MQTT broker at %s:%d reachable again after %.0f s: %d waiting commands sent, "
                            "%d dropped (expired or no longer wanted)", self.host, self.port,
                            time.monotonic() - lost_at, waiting - gone, gone,
                        )  # fmt: skip
                        lost_at = None
                    async for message in client.messages:
                        await self._dispatch(str(message.topic), message.payload)
            except aiomqtt.MqttCodeError as exc:
                if self.protocol == aiomqtt.ProtocolVersion.V5 and _code(exc) in _REFUSED_PROTOCOL:
                    log.warning("the MQTT broker at %s:%d refuses MQTT 5; using 3.1.1 (commands then carry "
                                "their deadline in the payload only)", self.host, self.port)  # fmt: skip
                    self.protocol = aiomqtt.ProtocolVersion.V311
                    continue
                self.last_error = f"{type(exc).__name__}: {exc}"
                lost_at = self._lost(lost_at, exc, delay)
            except aiomqtt.MqttError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                lost_at = self._lost(lost_at, exc, delay)
            finally:
                self._connected.clear()
                self._client = None
            # jitter: many instances that lost the broker together do not retry in step
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.max_backoff_s)

    def _lost(self, lost_at: float | None, exc: Exception, delay: float) -> float:
        """Log a lost or refused connection: a warning when it starts, then quieter retries."""
        if lost_at is None:
            log.warning("MQTT connection to %s:%d lost or refused (%s); commands wait, retrying in %.1f s",
                        self.host, self.port, exc, delay)  # fmt: skip
            return time.monotonic()
        log.info("MQTT broker at %s:%d still unreachable (%s); retrying in %.1f s",
                 self.host, self.port, exc, delay)  # fmt: skip
        return lost_at

    def status(self) -> dict[str, Any]:
        """The broker connection for `/health`: a lost broker is a state to report, not an exception."""
        return {
            "status": "ok" if self.connected else "degraded",
            "broker": f"{self.host}:{self.port}",
            "connections": self.connects,
            "last_error": self.last_error,
        }

    async def close(self) -> None:
        """Say `offline` on the status topic (a clean disconnect does not send the will)."""
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await asyncio.wait_for(client.publish(self.status_topic, b"offline", qos=1, retain=True), 2)
        for task in list(self._tasks):
            task.cancel()

    async def send_command(self, topic: str, command: dict[str, Any]) -> None:
        """Publish a command (QoS 1) with its deadline, or keep it for the reconnection (see the module's
        docstring). `command["expires_ms"]` is the deadline; the device gets `expires_at` instead."""
        expires_ms = command.get("expires_ms")
        body = {k: v for k, v in command.items() if k != "expires_ms"}
        waiting = _Waiting(
            json.dumps(body, separators=(",", ":")).encode(), expires_ms, body.get("action_id")
        )
        client = self._client
        if client is None or not self.connected:
            self._outbox[topic] = waiting  # the newest command per module wins
            return
        try:
            await self._publish(client, topic, waiting)
        except aiomqtt.MqttError:
            self._outbox[topic] = waiting

    def _wanted(self, waiting: _Waiting) -> bool:
        if waiting.expires_ms is not None and waiting.expires_ms <= self.clock() * 1000:
            return False
        return waiting.action_id is None or self.is_current(waiting.action_id)

    async def _publish(self, client: aiomqtt.Client, topic: str, waiting: _Waiting) -> None:
        if not self._wanted(waiting):
            self.dropped += 1
            log.info("MQTT command %s to %s dropped unsent: it expired or was no longer wanted",
                     waiting.action_id, topic)  # fmt: skip
            return
        properties = None
        if self.protocol == aiomqtt.ProtocolVersion.V5 and waiting.expires_ms is not None:
            properties = Properties(PacketTypes.PUBLISH)
            remaining_s = (waiting.expires_ms - self.clock() * 1000) / 1000
            properties.MessageExpiryInterval = max(1, math.ceil(remaining_s))
        await client.publish(f"{topic}/set", waiting.payload, qos=1, properties=properties)

    async def _flush_outbox(self, client: aiomqtt.Client) -> None:
        while self._outbox:
            topic, waiting = next(iter(self._outbox.items()))
            await self._publish(client, topic, waiting)
            if self._outbox.get(topic) is waiting:
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
