"""How commands reach devices: the port (`DeviceLink`) and the simulated devices used when no MQTT broker
is configured (the embedded default). The MQTT bridge (`services/mqtt.py`) is the real implementation.

A device answers a command by reporting its new state; the module service treats that report as the
acknowledgement. Simulated devices do the same after a short delay, and act on the demo simulator's room
model (ventilation raises the air change rate, a purifier filters particles, a window lets outdoor air in),
so the demo shows cause and effect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

StateReport = Callable[[str, dict[str, Any]], Awaitable[None]]  # (module topic, reported state)


class DeviceLink(Protocol):
    """Sends commands to devices; their state reports come back through the module service's callbacks."""

    name: str

    async def send_command(self, topic: str, command: dict[str, Any]) -> None:
        """Deliver `command` (`{"action": ..., "state": {...}, "action_id": ...}`) to the module `topic`."""

    @property
    def connected(self) -> bool: ...


# which attribute of the simulator's RoomModel each module type drives
_MODEL_ATTRIBUTE = {"ventilation": "ventilation_on", "purifier": "purifier_on", "window": "window_open"}


class SimulatedDevices:
    """Devices that answer like real ones: after `delay_s` they report the state they were asked for.

    `attach(topic, module_type, model)` links a device to a simulated room's model; a failing device can be
    simulated with `unresponsive` (commands to those topics are never answered)."""

    name = "simulated"

    def __init__(self, report: StateReport, *, delay_s: float = 0.5, clock: Callable[[], float] = time.time):
        self.report = report
        self.delay_s = delay_s
        self.clock = clock  # the module service's: a command's deadline is in its time
        self.states: dict[str, dict[str, Any]] = {}
        self.models: dict[str, tuple[str, Any]] = {}
        self.unresponsive: set[str] = set()
        self._tasks: set[asyncio.Task] = set()

    @property
    def connected(self) -> bool:
        return True

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
