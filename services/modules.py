"""Modules and their actions: the registry of each room's actuators, commands with acknowledged states, and
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
from app.core.domain.timesteps import iso_ms
from app.core.storage.modules import ModuleInfo, SqlModuleStore, action_dict, slug

from .devices import DeviceLink
from .errors import Conflict, NotFound
from .rooms import room_row
from .scope import EVERYTHING, Selection

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
        raise FieldError(key, "required: a non-empty text").as_error()
    return value.strip()


class ModuleService:
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
            raise NotFound(f"module {module_id} does not exist")
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
            raise NotFound(f"room {room_id} does not exist")
        label = _text({"name": name}, "name", default=kind.name)
        if slug(label) == "sensors":  # type: ignore[arg-type]
            raise FieldError("name", "'sensors' is the readings' topic level; choose another name").as_error()
        topic = f"{self.prefix}/{slug(names[0])}/{slug(names[1])}/{slug(label)}"  # type: ignore[arg-type]
        try:
            info = await asyncio.to_thread(
                self.store.add_module, room_id, kind.name, label, topic, domain.initial_state(kind),
                self.now_ms(),
            )  # fmt: skip
        except IntegrityError:
            raise Conflict(f"{names[1]!r} has a module named {label!r} already (topic {topic})") from None
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

    # -- commands ---------------------------------------------------------------------------------------
    async def execute(self, body: Any, *, requested_by: str = "api", source: str = "api") -> dict[str, Any]:
        """`POST /api/execute-action`: the seed's body (`enseigne, salle, module_type, action_type, priority,
        reason`), plus optional `value` (level, setpoint), `module` (a name, when a room has several of a
        type) and `requested_by`. Acts on every module of the type in the room; answers with the pending
        actions."""
        if not isinstance(body, dict):
            raise FieldError("body", "must be a JSON object").as_error()
        site, room = _text(body, "enseigne"), _text(body, "salle")
        kind = domain.module_kind(body.get("module_type"))
        action = domain.normalise_action(kind, body.get("action_type"))
        desired = domain.desired_state(kind, action, body.get("value"))
        priority = _text(body, "priority", default="normal")
        if priority not in domain.PRIORITIES:
            raise FieldError("priority", f"must be one of {list(domain.PRIORITIES)}").as_error()
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, dict):
            raise FieldError("reason", "must be an object such as {pollutant, value, level}").as_error()
        who = body.get("requested_by") or requested_by
        if not isinstance(who, str) or len(who) > 128:
            raise FieldError("requested_by", "must be a text of at most 128 characters").as_error()
        name = body.get("module")
        targets = [  # from memory: the live path needs no query
            m
            for m in self._modules.values()
            if m.site == site and m.room == room and m.module_type == kind.name and name in (None, m.name)
        ]
        if not targets:
            await self.room_id(site, room)  # type: ignore[arg-type]  # 404 naming the unknown site or room
            what = f"named {name!r}" if name is not None else f"of type {kind.name!r}"
            raise NotFound(f"room {room!r} of site {site!r} has no module {what}")
        actions = [
            await self.command(
                m.id, action, desired, requested_by=who, source=source, priority=priority, reason=reason
            )
            for m in targets
        ]
        return {"status": "pending" if any(a["status"] == "pending" for a in actions) else "done",
                "actions": actions}  # fmt: skip

    async def command(
        self,
        module_id: int,
        action: str,
        desired: dict[str, Any] | None = None,
        *,
        value: Any = None,
        requested_by: str,
        source: str,
        priority: str = "normal",
        reason: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one command to one module and record it; returns the action (status `pending`)."""
        module = self.module(module_id)
        kind = domain.KINDS[module.module_type]
        action = domain.normalise_action(kind, action)
        if desired is None:
            desired = domain.desired_state(kind, action, value)
        now = self.now_ms()
        row = await asyncio.to_thread(
            self.store.add_action, module_id=module_id, action_type=action, desired=desired,
            requested_by=requested_by, source=source, priority=priority, reason=reason, status="pending",
            requested_ms=now,
        )  # fmt: skip
        if source != "automation":
            self.last_manual_ms[module_id] = now
        # no await between taking the previous command and installing this one: concurrent commands to one
        # module each supersede exactly the one before
        previous = self._pending.get(module_id)
        pending = self._pending[module_id] = _Pending(row.id, desired, requested_by)
        pending.task = asyncio.create_task(self._expire(module_id, row.id))
        if previous is not None:
            if previous.task:
                previous.task.cancel()
            await self._finish(previous.action_id, module, "superseded", error="a newer command replaced it")
        out = self._publish(row, module)
        expires_ms = now + int(self.command_timeout_s * 1000)
        command = {
            "action_id": row.id, "action": action, "state": desired, "requested_by": requested_by,
            "expires_at": iso_ms(expires_ms),  # devices should ignore it later: it has failed by then
            "expires_ms": expires_ms,
        }  # fmt: skip
        await self.link.send_command(module.topic, command)
        return out

    async def _expire(self, module_id: int, action_id: int) -> None:
        await asyncio.sleep(self.command_timeout_s)
        pending = self._pending.get(module_id)
        if pending is None or pending.action_id != action_id:
            return
        del self._pending[module_id]
        module = self._modules.get(module_id)
        if module is None:
            return
        error = (
            f"no state report from the device within {self.command_timeout_s:g} s; it will not be sent later"
        )
        await self._finish(action_id, module, "failed", error=error)
        self.bus.module_states.emit(module.as_dict())  # pages drop the pending mark
        if self.alerting is None:
            return
        known = self._failed.get(module_id)
        if known is not None:  # the alert is open already: it is now about this command
            known.action_id, known.desired = action_id, pending.desired
            return
        alert = await self.alerting.raise_external(
            module.room_id, _failure_name(module), f"module:{module.module_type}"
        )
        if alert is not None:
            self._failed[module_id] = _Failed(alert["id"], action_id, pending.desired)

    async def _finish(
        self, action_id: int, module: ModuleInfo, status: str, error: str | None = None
    ) -> None:
        row = await asyncio.to_thread(
            self.store.update_action, action_id, status=status, completed_ms=self.now_ms(), error=error
        )
        if row is not None:
            self._publish(row, module)

    def _publish(self, row: Any, module: ModuleInfo | None) -> dict[str, Any]:
        action = action_dict(row, module)
        self.record_action(action)
        self.bus.actions.emit(action)
        for listener in self.action_listeners:
            try:
                listener(action)
            except Exception:
                log.exception("action listener failed")
        return action

    def record_action(self, action: dict[str, Any]) -> None:
        """Hand an action (new or changed) to the time-series sinks (`iaq_actions`). The registry row is
        written already; a failing sink is logged and never fails the command."""
        for sink in self.action_sinks:
            try:
                sink(action)
            except Exception:
                log.exception("action sink %r failed", sink)

    async def stop(self) -> None:
        """Stop waiting for reports (the commands stay pending in the registry; the next start fails them)."""
        for pending in self._pending.values():
            if pending.task:
                pending.task.cancel()
        self._pending.clear()

    # -- what devices report ----------------------------------------------------------------------------
    async def report_state(self, topic: str, state: dict[str, Any]) -> None:
        """A device's state report (MQTT `.../state` or a simulated device): store it, publish it, and
        acknowledge the pending command it satisfies."""
        module = self.by_topic(topic)
        if module is None:
            log.debug("state report for unknown module topic %s", topic)
            return
        if not isinstance(state, dict):
            return
        state = {k: v for k, v in state.items() if k in ("on", "open", "level", "setpoint")}
        now = self.now_ms()
        pending = self._pending.get(module.id)
        if pending is not None and domain.satisfies(state, pending.desired):
            # the state and the acknowledgement in one transaction (one disk sync on the live path)
            del self._pending[module.id]
            if pending.task:
                pending.task.cancel()
            # memory first, with no await in between: the module is always seen with either its pending
            # command or its new state
            changed = state != module.state  # the state history records changes only
            module.state, module.state_ms, module.state_by = state, now, pending.requested_by
            row = await asyncio.to_thread(
                self.store.acknowledge, module.id, state, now, pending.requested_by, pending.action_id,
                changed=changed,
            )  # fmt: skip
            self.bus.module_states.emit({**module.as_dict(), "pending": None})
            if row is not None:
                self._publish(row, module)
            await self._resolve_failure(module.id, "the module answered a later command")
            return
        failed = self._failed.get(module.id)
        if state != module.state and pending is not None:  # on the way to a command in flight
            module.state, module.state_ms, module.state_by = state, now, "device"
            await asyncio.to_thread(self.store.set_state, module.id, state, now, "device")
        elif state != module.state:  # on its own: the action history shows what the device did
            module.state, module.state_ms, module.state_by = state, now, "device"
            after = (
                failed.action_id if failed is not None and domain.satisfies(state, failed.desired) else None
            )
            row = await asyncio.to_thread(
                self.store.report_change, module.id, state, now, after_failed_action=after
            )
            self._publish(row, module)
        self.bus.module_states.emit({**module.as_dict(), "pending": self.pending_desired(module.id)})
        if failed is not None and domain.satisfies(state, failed.desired):
            await self._resolve_failure(
                module.id,
                f"the device reported on its own the state that action {failed.action_id} asked for",
            )

    async def _resolve_failure(self, module_id: int, why: str) -> None:
        failed = self._failed.pop(module_id, None)
        if failed is not None and self.alerting is not None:
            await self.alerting.resolve_external(failed.alert_id, why)

    async def report_availability(self, topic: str, online: bool) -> None:
        module = self.by_topic(topic)
        if module is None or module.available == online:
            return
        await asyncio.to_thread(self.store.set_available, module.id, online)
        module.available = online
        self.bus.module_states.emit(module.as_dict())

    # -- history and effectiveness ----------------------------------------------------------------------
    async def history(
        self,
        site: str | None = None,
        room: str | None = None,
        *,
        selection: Selection = EVERYTHING,
        limit: int = 100,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Actions newest first, of the selected rooms (services.scope), narrowed to a room or a site by
        name."""
        if room is not None and site is None:
            raise FieldError("enseigne", "required with salle").as_error()
        ids: list[int] | None = None
        if site is not None or selection.room_ids is not None:
            room_id = await self.room_id(site, room) if site is not None and room is not None else None
            ids = [
                m.id
                for m in self._modules.values()
                if selection.allows(m.room_id) and site in (None, m.site) and room_id in (None, m.room_id)
            ]
        rows = await asyncio.to_thread(self.store.actions, ids, limit=limit, status=status)
        return [action_dict(row, self._modules.get(row.module_id)) for row in rows]

    async def state_changes(self, module_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """The module's recorded state changes, newest first (what forecasting reads as ventilation)."""
        self.module(module_id)
        return await asyncio.to_thread(self.store.state_changes, module_id, limit)

    async def set_effectiveness(self, action_id: int, ach_per_h: float, r2: float) -> dict[str, Any] | None:
        row = await asyncio.to_thread(self.store.update_action, action_id, ach_per_h=ach_per_h, ach_r2=r2)
        if row is None:
            return None
        return self._publish(row, self._modules.get(row.module_id))

    async def air_change_rates(self) -> dict[int, tuple[float, float, int]]:
        return await asyncio.to_thread(self.store.air_change_rates)

    # -- proposals (automation's `recommend` mode) -------------------------------------------------------
    async def propose(
        self, module_id: int, action: str, *, reason: dict[str, Any], priority: str = "normal"
    ) -> dict[str, Any]:
        """Record a proposed action for an operator to confirm or dismiss."""
        module = self.module(module_id)
        desired = domain.desired_state(domain.KINDS[module.module_type], action)
        row = await asyncio.to_thread(
            self.store.add_action, module_id=module_id, action_type=action, desired=desired,
            requested_by="automation", source="automation", priority=priority, reason=reason,
            status="proposed", requested_ms=self.now_ms(),
        )  # fmt: skip
        return self._publish(row, module)

    async def withdraw_proposal(self, action_id: int, why: str) -> None:
        """The automation takes back a proposal nobody answered (the air cleared meanwhile)."""
        row = await asyncio.to_thread(self.store.action, action_id)
        if row is not None and row.status == "proposed":
            module = self._modules.get(row.module_id)
            if module is not None:
                await self._finish(action_id, module, "dismissed", error=f"withdrawn: {why}")

    async def action_site(self, action_id: int) -> str:
        """The site of an action's module; NotFound when there is no such action."""
        row = await asyncio.to_thread(self.store.action, action_id)
        if row is None:
            raise NotFound(f"action {action_id} does not exist")
        return self.module(row.module_id).site

    async def decide_proposal(self, action_id: int, confirm: bool, by: str) -> dict[str, Any]:
        """An operator confirms (the command is sent, by them) or dismisses a proposed action."""
        row = await asyncio.to_thread(self.store.action, action_id)
        if row is None:
            raise NotFound(f"action {action_id} does not exist")
        if row.status != "proposed":
            raise Conflict(f"action {action_id} is {row.status}, not proposed")
        module = self.module(row.module_id)
        if not confirm:
            await self._finish(action_id, module, "dismissed", error=f"dismissed by {by}")
            return action_dict(await asyncio.to_thread(self.store.action, action_id), module)
        await self._finish(action_id, module, "confirmed", error=None)
        return await self.command(
            module.id, row.action_type, row.desired, requested_by=by, source="manual",
            priority=row.priority, reason=row.reason,
        )  # fmt: skip
