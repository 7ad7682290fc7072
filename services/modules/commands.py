"""Commands and what devices report: a command waits for the device's state until its deadline, then fails
and raises an alert; a later report of the asked state resolves it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from app.core.domain import modules as domain
from app.core.domain.readings import FieldError
from app.core.domain.timesteps import iso_ms
from app.core.i18n import _
from app.core.storage.modules import ModuleInfo, action_dict

from ..errors import NotFound
from .core import ModulesCore, _Failed, _failure_name, _Pending, _text

log = logging.getLogger(__name__)


class Commands(ModulesCore):
    # -- commands ---------------------------------------------------------------------------------------
    async def execute(self, body: Any, *, requested_by: str = "api", source: str = "api") -> dict[str, Any]:
        """`POST /api/execute-action`: the seed's body (`enseigne, salle, module_type, action_type, priority,
        reason`), plus optional `value` (level, setpoint), `module` (a name, when a room has several of a
        type) and `requested_by`. Acts on every module of the type in the room; answers with the pending
        actions."""
        if not isinstance(body, dict):
            raise FieldError("body", _("must be a JSON object")).as_error()
        site, room = _text(body, "enseigne"), _text(body, "salle")
        kind = domain.module_kind(body.get("module_type"))
        action = domain.normalise_action(kind, body.get("action_type"))
        desired = domain.desired_state(kind, action, body.get("value"))
        priority = _text(body, "priority", default="normal")
        if priority not in domain.PRIORITIES:
            raise FieldError(
                "priority", _("must be one of {list}").format(list=list(domain.PRIORITIES))
            ).as_error()
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, dict):
            raise FieldError("reason", _("must be an object such as {pollutant, value, level}")).as_error()
        who = body.get("requested_by") or requested_by
        if not isinstance(who, str) or len(who) > 128:
            raise FieldError("requested_by", _("must be a text of at most 128 characters")).as_error()
        name = body.get("module")
        targets = [  # from memory: the live path needs no query
            m
            for m in self._modules.values()
            if m.site == site and m.room == room and m.module_type == kind.name and name in (None, m.name)
        ]
        if not targets:
            await self.room_id(site, room)  # type: ignore[arg-type]  # 404 naming the unknown site or room
            what = f"named {name!r}" if name is not None else f"of type {kind.name!r}"
            raise NotFound(
                _("room {room!r} of site {site!r} has no module {what}").format(
                    room=room, site=site, what=what
                )
            )
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
