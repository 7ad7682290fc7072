"""How commands reach devices: the port (`DeviceLink`) and the simulated devices used when no MQTT broker
is configured (the embedded default). The MQTT bridge (`services/mqtt.py`) is the real implementation.

A device answers a command by reporting its new state; the module service treats that report as the
acknowledgement. Simulated devices do the same after a short delay, and act on the demo simulator's room
model (ventilation raises the air change rate, a purifier filters particles, a window lets outdoor air in),
so the demo shows cause and effect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)

StateReport = Callable[[str, dict[str, Any]], Awaitable[None]]  # (module topic, reported state)


class DeviceListener(Protocol):
    """Who hears what devices say: the module service (`services/modules`), which registers itself with the
    link it is given (`DeviceLink.listen_devices`)."""

    clock: Callable[[], float]  # a command's deadline is in the listener's time

    async def report_state(self, topic: str, state: dict[str, Any]) -> None: ...

    async def report_availability(self, topic: str, online: bool) -> None: ...

    def is_current(self, action_id: int) -> bool:
        """Whether a command still waiting to be sent is still wanted (not decided or replaced meanwhile)."""
        ...


class ReadingListener(Protocol):
    """Who stores the readings sensors publish on the link (`services/mqtt_readings.py`)."""

    async def receive(self, topic: str, payload: Any) -> None: ...


class DeviceLink(Protocol):
    """Sends commands to devices; what devices say goes to the listeners registered with `listen_*`."""

    name: str

    def listen_devices(self, devices: DeviceListener) -> None:
        """`devices` hears the devices' states and availability from now on."""

    def listen_readings(self, readings: ReadingListener) -> None:
        """`readings` gets the readings sensors publish on the link (a link without sensors ignores it)."""

    async def send_command(self, topic: str, command: dict[str, Any]) -> None:
        """Deliver `command` (`{"action": ..., "state": {...}, "action_id": ...}`) to the module `topic`."""

    @property
    def connected(self) -> bool: ...

    def status(self) -> dict[str, Any] | None:
        """The link's check for `/health` (None: nothing to check, e.g. simulated devices)."""

    async def close(self) -> None:
        """Stop: say goodbye to the devices where the link can, and stop waiting for them."""


async def _nobody_hears(topic: str, state: dict[str, Any]) -> None:
    log.warning("device %s reported %s before anything listened", topic, state)


# which attribute of the simulator's RoomModel each module type drives
_MODEL_ATTRIBUTE = {"ventilation": "ventilation_on", "purifier": "purifier_on", "window": "window_open"}


class SimulatedDevices:
    """Devices that answer like real ones: after `delay_s` they report the state they were asked for.

    `attach(topic, module_type, model)` links a device to a simulated room's model; a failing device can be
    simulated with `unresponsive` (commands to those topics are never answered)."""

    name = "simulated"

    def __init__(
        self,
        report: StateReport | None = None,
        *,
        delay_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ):
        self.report = report or _nobody_hears
        self.delay_s = delay_s
        self.clock = clock  # the listener's once one listens: a command's deadline is in its time
        self.states: dict[str, dict[str, Any]] = {}
        self.models: dict[str, tuple[str, Any]] = {}
        self.unresponsive: set[str] = set()
        self._tasks: set[asyncio.Task] = set()

    @property
    def connected(self) -> bool:
        return True

    def status(self) -> dict[str, Any] | None:
        return None

    def listen_devices(self, devices: DeviceListener) -> None:
        self.report = devices.report_state
        self.clock = lambda: devices.clock()  # looked up at each call: tests move the service's clock

    def listen_readings(self, readings: ReadingListener) -> None:
        """Simulated devices publish no readings (the demo's simulator ingests its own)."""

    def attach(self, topic: str, module_type: str, model: Any, state: dict[str, Any] | None = None) -> None:
        """Link the device at `topic` to a room model; `state` is the registry's (after a restart, the
        simulated room starts as its modules were left)."""
        self.models[topic] = (module_type, model)
        if state:
            self.states[topic] = dict(state)
            self._apply(topic, self.states[topic])

    async def send_command(self, topic: str, command: dict[str, Any]) -> None:
        if topic in self.unresponsive:
            return
        task = asyncio.create_task(
            self._answer(topic, dict(command.get("state") or {}), command.get("expires_ms"))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, topic: str, desired: dict[str, Any], expires_ms: int | None = None) -> None:
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        if expires_ms is not None and self.clock() * 1000 > expires_ms:
            return  # as a real device should: a command past its deadline has failed, it is not carried out
        state = {**self.states.get(topic, {}), **desired}
        self.states[topic] = state
        self._apply(topic, state)
        try:
            await self.report(topic, state)
        except Exception:
            log.exception("simulated device %s could not report its state", topic)

    def _apply(self, topic: str, state: dict[str, Any]) -> None:
        linked = self.models.get(topic)
        if linked is not None:
            module_type, model = linked
            attribute = _MODEL_ATTRIBUTE.get(module_type)
            if attribute is not None:
                setattr(model, attribute, bool(state.get("on") or state.get("open")))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class DevicesOnBroker:
    """The demo's simulated devices, on the MQTT broker when one is configured: they take the commands the
    platform publishes on `<topic>/set` and report their state on `<topic>/state` (retained), as real devices
    do, and act on the demo simulator's rooms. So the demo runs the real path (bridge, broker, state report)
    and can be watched with `mosquitto_sub`.

    A topic that a real device holds is left to it: a device announces itself with `online` on
    `<topic>/availability` (its last will says `offline`), which these simulated devices never publish."""

    name = "demo-devices"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        prefix: str,
        client_id: str,
        delay_s: float = 0.5,
        username: str | None = None,
        password: str | None = None,
    ):
        self.host, self.port, self.prefix, self.client_id = host, port, prefix, client_id
        self.username, self.password = username, password
        self.devices = SimulatedDevices(self._report, delay_s=delay_s)
        self.held: set[str] = set()  # topics a real device announced itself on
        self._client: Any = None

    def attach(self, topic: str, module_type: str, model: Any, state: dict[str, Any] | None = None) -> None:
        self.devices.attach(topic, module_type, model, state)

    async def run(self) -> None:
        """Answer commands until cancelled; back after a broker outage, as real devices are."""
        import aiomqtt

        from .mqtt import NO_DELAY

        delay = 1.0
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=f"{self.client_id}-demo-devices",
                    username=self.username, password=self.password, socket_options=NO_DELAY,
                    protocol=aiomqtt.ProtocolVersion.V5,
                ) as client:  # fmt: skip
                    self._client = client
                    await client.subscribe(f"{self.prefix}/+/+/+/set", qos=1)
                    await client.subscribe(f"{self.prefix}/+/+/+/availability", qos=1)
                    delay = 1.0
                    async for message in client.messages:
                        await self._on_message(str(message.topic), message.payload)
            except aiomqtt.MqttError as exc:
                log.info("demo devices: broker unreachable (%s); retrying in %.0f s", exc, delay)
            finally:
                self._client = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _on_message(self, topic: str, payload: Any) -> None:
        base, _, kind = topic.rpartition("/")
        if kind == "availability":
            online = bytes(payload or b"").decode(errors="replace").strip().lower() == "online"
            (self.held.add if online else self.held.discard)(base)
            return
        if base not in self.devices.models or base in self.held:
            return  # not a demo module, or a real device answers it
        try:
            command = json.loads(bytes(payload or b""))
            expires = command.get("expires_at")
            if expires:
                command["expires_ms"] = int(
                    datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp() * 1000
                )
        except (ValueError, AttributeError, TypeError):
            log.warning("demo device %s: a command that is not JSON was ignored", base)
            return
        await self.devices.send_command(base, command)

    async def _report(self, topic: str, state: dict[str, Any]) -> None:
        client = self._client
        if client is not None:
            await client.publish(f"{topic}/state", json.dumps(state).encode(), qos=1, retain=True)

    async def close(self) -> None:
        await self.devices.close()
