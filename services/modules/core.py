"""The modules' registry: each room's actuators in memory, added and deleted, their states, and what the
other parts share (pending and failed commands, the action sinks).

Modules and their actions: the registry of each room's actuators, commands with acknowledged states, and
the record of every action (who or what asked, why, when, how it ended).

A command is `pending` until the device reports a state that has every value the command asked for: then it
is `acknowledged`. Without such a report within the timeout it is `failed` and an alert is raised for the
room. A newer command to the same module `supersedes` a pending one. A command carries its deadline (the
timeout): a device link never delivers it later (the MQTT bridge drops it from its outbox, and the broker
from its queues by MQTT 5's message expiry), so equipment never moves on an order the operator was told had
failed. A state a device reports on its own is recorded as a `reported` action; when it is the state a
failed command asked for, or the module answers a later command, the "did not answer" alert resolves
(also after a restart: the open alerts are found again).

Every change of an action goes to `bus.actions` and to the action sinks (`iaq_actions`); every reported
state to `bus.module_states`. Every state that differs from the previous one is also kept in the module's
state history (`module_state_changes`, with its ventilation level), which forecasting reads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.core.bus import EventBus
from app.core.db.models import Room
from app.core.domain import modules as domain
from app.core.domain.readings import FieldError
from app.core.i18n import _
from app.core.storage.modules import ModuleInfo, SqlModuleStore, slug

from ..devices import DeviceLink
from ..errors import Conflict, NotFound
from ..rooms import room_row
from ..scope import EVERYTHING, Selection

log = logging.getLogger(__name__)
ActionSink = Callable[[dict[str, Any]], Any]
SOURCES = ("manual", "automation", "api", "device")  # device: a state change it reported on its own


def iaq_actions_point(action: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, float], int]:
    """An action (new or changed) as a point of the `iaq_actions` series: (measurement, tags, fields, time in
    ms), for a time-series store to write. Tags: the contract's `enseigne, salle, priority, module_type`,
    `room_id` (as on `iaq_raw`) and the action's tag-like texts `action_type, status, source`; fields are
    floats only (`action_id`, `module_id`, the measured air change rate). The time is the change's: the
    request while pending, completion after, so each status of an action is its own point and a later
    change of the same status (the air change rate, measured after) rewrites it."""
    names = ("enseigne", "salle", "room_id", "priority", "module_type", "action_type", "status", "source")
    tags = {k: str(action.get(k) or "") for k in names}
    fields: dict[str, float] = {"action_id": float(action["id"])}
    for key in ("module_id", "ach_per_h", "ach_r2"):
        if action.get(key) is not None:
            fields[key] = float(action[key])
    when = action.get("completed_at") if action.get("status") != "pending" else None
    when = when or action["requested_at"]
    ts_ms = int(datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp() * 1000)
    return "iaq_actions", tags, fields, ts_ms


@dataclass(slots=True)
class _Pending:
    action_id: int
    desired: dict[str, Any]
    requested_by: str
    task: asyncio.Task | None = None


@dataclass(slots=True)
class _Failed:
    """A module whose last command failed: its open "did not answer" alert and what that command asked."""

    alert_id: int
    action_id: int
    desired: dict[str, Any]


def _failure_name(module: ModuleInfo) -> str:
    """The name of a module's "did not answer" alert (how it is found again after a restart)."""
    return f"{module.name} did not answer"


def _text(body: dict[str, Any], key: str, *, required: bool = True, default: str | None = None) -> str | None:
    value = body.get(key)
    value = default if value is None else value
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FieldError(key, _("required: a non-empty text")).as_error()
    return value.strip()


class ModulesCore:
    def __init__(
        self,
        *,
        store: SqlModuleStore,
        sessions: sessionmaker[Session],
        bus: EventBus,
        link: DeviceLink,
        alerting: Any = None,
        action_sinks: list[ActionSink] | None = None,
        command_timeout_s: float = 10.0,
        topic_prefix: str = "iaqverse",
        clock: Callable[[], float] = time.time,
    ):
        self.store, self.sessions, self.bus, self.alerting = store, sessions, bus, alerting
        self.command_timeout_s, self.prefix, self.clock = command_timeout_s, topic_prefix, clock
        self.link = link  # the MQTT bridge, or simulated devices
        link.listen_devices(self)  # their state reports and availability come to this service
        self.action_sinks = action_sinks or []  # e.g. an InfluxDB writer of `iaq_actions` points
        self.action_listeners: list[Callable[[dict[str, Any]], None]] = []  # in-process (effectiveness)
        self._modules: dict[int, ModuleInfo] = {}
        self._by_topic: dict[str, int] = {}
        self._pending: dict[int, _Pending] = {}  # module id -> its pending command
        self._failed: dict[int, _Failed] = {}  # module id -> its open "did not answer" alert
        self.last_manual_ms: dict[int, int] = {}  # module id -> last command by a person

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- registry ---------------------------------------------------------------------------------------
    def load(self) -> None:
        """Modules into memory (blocking; at start-up). Commands left pending by a previous run are failed:
        nobody is waiting for their report any more."""
        self._reload()
        for row in self.store.pending_actions():
            self.store.update_action(
                row.id, status="failed", completed_ms=self.now_ms(), error="the platform restarted meanwhile"
            )
        self._failed = self._open_failures()

    def _open_failures(self) -> dict[int, _Failed]:
        """The "did not answer" alerts still open, by module, with the failed command each is about: a
        device that reports that state later, or answers a later command, resolves its alert after a restart
        as before it."""
        if self.alerting is None:
            return {}
        found: dict[int, _Failed] = {}
        for alert in self.alerting.open_external_sync("module:"):
            module = next(
                (m for m in self._modules.values()
                 if m.room_id == alert["room_id"] and alert["rule"] == _failure_name(m)),
                None,
            )  # fmt: skip
            failed = self.store.last_failed_action(module.id) if module is not None else None
            if module is not None and failed is not None:
                found[module.id] = _Failed(alert["id"], failed.id, failed.desired)
        return found

    def is_current(self, action_id: int) -> bool:
        """Whether a command is still wanted (pending, not failed, superseded or acknowledged): a device
        link drops what is not before delivering it."""
        return any(p.action_id == action_id for p in self._pending.values())

    def _reload(self) -> None:
        self._modules = {m.id: m for m in self.store.modules()}
        self._by_topic = {m.topic: m.id for m in self._modules.values()}

    def modules(self, room_id: int | None = None) -> list[ModuleInfo]:
        found = self._modules.values()
        return [m for m in found if room_id is None or m.room_id == room_id]

    def module(self, module_id: int) -> ModuleInfo:
        module = self._modules.get(module_id)
        if module is None:
            raise NotFound(_("module {module_id} does not exist").format(module_id=module_id))
        return module

    def by_topic(self, topic: str) -> ModuleInfo | None:
        module_id = self._by_topic.get(topic)
        return self._modules.get(module_id) if module_id is not None else None

    def pending_desired(self, module_id: int) -> dict[str, Any] | None:
        pending = self._pending.get(module_id)
        return pending.desired if pending else None

    async def room_id(self, site: str, room: str) -> int:
        def work() -> int:
            with self.sessions() as s:
                return room_row(s, site, room, Room.id)[0]

        return await asyncio.to_thread(work)

    async def add_module(
        self, site: Any, room: Any, module_type: Any, name: Any = None, *, room_id: int | None = None
    ) -> dict[str, Any]:
        """Register a module in a room; its topic follows the scheme. 409 if the room has one of that name."""
        kind = domain.module_kind(module_type)
        if room_id is None:
            site_name = _text({"enseigne": site}, "enseigne")
            room_name = _text({"salle": room}, "salle")
            room_id = await self.room_id(site_name, room_name)  # type: ignore[arg-type]
        names = await asyncio.to_thread(self.store.room_names, room_id)
        if names is None:
            raise NotFound(_("room {room_id} does not exist").format(room_id=room_id))
        label = _text({"name": name}, "name", default=kind.name)
        if slug(label) == "sensors":  # type: ignore[arg-type]
            raise FieldError(
                "name", _("'sensors' is the readings' topic level; choose another name")
            ).as_error()
        topic = f"{self.prefix}/{slug(names[0])}/{slug(names[1])}/{slug(label)}"  # type: ignore[arg-type]
        try:
            info = await asyncio.to_thread(
                self.store.add_module, room_id, kind.name, label, topic, domain.initial_state(kind),
                self.now_ms(),
            )  # fmt: skip
        except IntegrityError:
            raise Conflict(
                _("{room!r} has a module named {label!r} already (topic {topic})").format(
                    room=names[1], label=label, topic=topic
                )
            ) from None
        self._modules[info.id] = info
        self._by_topic[info.topic] = info.id
        self.bus.module_states.emit(info.as_dict())
        return info.as_dict()

    async def ensure_modules(self, room_id: int, types: tuple[str, ...]) -> None:
        """Give a room a module of each type it lacks (the demo's rooms)."""
        have = {m.module_type for m in self.modules(room_id)}
        for module_type in types:
            if module_type not in have:
                await self.add_module(None, None, module_type, room_id=room_id)

    async def delete_module(self, module_id: int) -> dict[str, Any]:
        module = self.module(module_id)
        await asyncio.to_thread(self.store.delete_module, module_id)
        self._modules.pop(module_id, None)
        self._by_topic.pop(module.topic, None)
        pending = self._pending.pop(module_id, None)
        if pending and pending.task:
            pending.task.cancel()
        return {"deleted": "module", "id": module_id, "name": module.name}

    async def room_modules(self, site: str, room: str) -> dict[str, Any]:
        """`GET /api/room-modules`: the room's modules, each with its state and what it can do."""
        room_id = await self.room_id(site, room)
        return {
            "enseigne": site,
            "salle": room,
            "modules": [self._with_capabilities(m) for m in self.modules(room_id)],
        }

    def _with_capabilities(self, module: ModuleInfo) -> dict[str, Any]:
        out = module.as_dict()
        out["actions"] = list(domain.KINDS[module.module_type].actions)
        out["pending"] = self.pending_desired(module.id)
        return out

    def states(self, selection: Selection = EVERYTHING) -> dict[str, Any]:
        """`GET /api/modules/states`: {site: {room: {module name: state}}} of the selected rooms."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for m in self._modules.values():
            if selection.allows(m.room_id):
                out.setdefault(m.site, {}).setdefault(m.room, {})[m.name] = {
                    "module_type": m.module_type,
                    "state": m.state,
                    "available": m.available,
                    "pending": self.pending_desired(m.id),
                    "changed_at": m.as_dict()["state_changed_at"],
                    "changed_by": m.state_by,
                }
        return out
