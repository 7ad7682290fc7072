"""The action history, the air change rates measured after ventilation, and automation's proposals that
an operator confirms or dismisses."""

from __future__ import annotations

import asyncio
from typing import Any

from app.core.domain import modules as domain
from app.core.domain.readings import FieldError
from app.core.i18n import _
from app.core.storage.modules import action_dict

from ..errors import Conflict, NotFound
from ..scope import EVERYTHING, Selection
from .commands import Commands


class ModuleService(Commands):
    """Modules as the platform uses them: registry (`core.py`), commands (`commands.py`), history and
    proposals (here)."""

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
            raise FieldError("enseigne", _("required with salle")).as_error()
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
            raise NotFound(_("action {action_id} does not exist").format(action_id=action_id))
        return self.module(row.module_id).site

    async def decide_proposal(self, action_id: int, confirm: bool, by: str) -> dict[str, Any]:
        """An operator confirms (the command is sent, by them) or dismisses a proposed action."""
        row = await asyncio.to_thread(self.store.action, action_id)
        if row is None:
            raise NotFound(_("action {action_id} does not exist").format(action_id=action_id))
        if row.status != "proposed":
            raise Conflict(
                _("action {action_id} is {status}, not proposed").format(
                    action_id=action_id, status=row.status
                )
            )
        module = self.module(row.module_id)
        if not confirm:
            await self._finish(action_id, module, "dismissed", error=f"dismissed by {by}")
            return action_dict(await asyncio.to_thread(self.store.action, action_id), module)
        await self._finish(action_id, module, "confirmed", error=None)
        return await self.command(
            module.id, row.action_type, row.desired, requested_by=by, source="manual",
            priority=row.priority, reason=row.reason,
        )  # fmt: skip
