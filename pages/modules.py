"""`/modules`: per room, the modules with their live state and buttons to act, the automation mode, the
measured air change rate, automation's proposals to confirm, and the action history with reasons and outcomes.

The page follows `bus.module_states` (rows update in place) and `bus.actions` (the room's history and
proposals are reloaded), so a command sent from another tab, the API or the automation shows here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nicegui import ui

from app.core.domain.modules import KINDS
from app.core.i18n import N_, _, number
from components.access import page_actor, page_allows, page_bus, page_sites
from components.actions import attempt, small_button
from components.frame import add_nav_link, frame
from components.labels import action_status, metric_name
from components.labels import level as level_name
from components.modules import ModuleRow, action_label
from components.refresh import Coalesced
from components.times import local_time
from services.errors import NotFound
from services.scope import keep

if TYPE_CHECKING:
    from app.runtime import Runtime

MODES = {"off": N_("Off"), "recommend": N_("Recommend"), "auto": N_("Auto")}
KIND_OPTIONS = {name: kind.label for name, kind in KINDS.items()}
HISTORY = 8  # actions shown per room
STATUS_COLOURS = {
    "pending": "orange", "acknowledged": "positive", "failed": "negative", "superseded": "grey",
    "proposed": "accent", "confirmed": "grey", "dismissed": "grey",
}  # fmt: skip


def register(runtime: Runtime) -> None:
    add_nav_link(N_("Modules"), "/modules", icon="toggle_on", order=30)

    @ui.page("/modules")
    async def modules_page() -> None:
        with frame(_("Modules")):
            await ModulesPage(runtime).start()


def action_line(action: dict[str, Any], zone: str | None) -> str:
    """`2026-12-07 14:05:03 CET ventilation: switch on by admin — co2 1300 (poor)`, in the room's clock."""
    reason = action.get("reason") or {}
    level = reason.get("level")
    why = (
        f" — {metric_name(str(reason.get('pollutant')))} {reason.get('value')} ({level_name(level)})"
        if reason
        else ""
    )
    ach = (
        _(" · {value} air changes/h").format(value=number(action["ach_per_h"], 1))
        if action.get("ach_per_h") is not None
        else ""
    )
    what = _("{value}: {action_label} by {value2}").format(
        value=action["module"],
        action_label=action_label(action["action_type"]),
        value2=action["requested_by"],
    )
    return f"{local_time(action['requested_at'], zone, seconds=True)} {what}{why}{ach}"


class ModulesPage:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.modules, self.automation = runtime.modules, runtime.automation
        self.rows: dict[int, ModuleRow] = {}
        self.histories: dict[int, Any] = {}  # room id -> refreshable history section
        self.rates: dict[int, ui.label] = {}
        self.columns: dict[int, ui.column] = {}  # room id -> the column of its module rows
        self.room_sites: dict[int, str] = {}  # room id -> its site's name, for the site checks of actions
        self.room_zones: dict[int, str] = {}  # room id -> its time zone, for the times of its actions

    async def start(self) -> None:
        sites = keep(page_sites(), await self.runtime.config.list_sites())  # a limited account: its own
        rates = await self.modules.air_change_rates()
        if not any(site["rooms"] for site in sites):
            ui.label(_("No rooms yet: they appear with their sensors' first readings.")).mark("no-rooms")
        for site in sites:
            for room in site["rooms"]:
                await self.room_card(site["name"], room, rates.get(room["id"]))
        bus = page_bus(self.runtime.bus)
        bus.module_states.subscribe(self.on_state)
        bus.actions.subscribe(self.on_action)

    async def room_card(self, site: str, room: dict[str, Any], rate: tuple[float, float, int] | None) -> None:
        room_id = room["id"]
        self.room_sites[room_id] = site
        self.room_zones[room_id] = room["effective_timezone"]
        with ui.card().classes("w-full").mark(f"room-{room_id}"):
            with ui.row().classes("items-center w-full gap-4"):
                ui.label(f"{site} · {room['name']}").classes("text-h6 grow")
                self.rates[room_id] = ui.label(self._rate_text(rate)).classes("text-caption")
                self.rates[room_id].mark(f"room-{room_id}-ach")
                mode = self.automation.room_settings(room_id)["mode"]
                if page_allows("admin", site=site, quiet=True):
                    ui.toggle(
                        {k: _(v) for k, v in MODES.items()},
                        value=mode,
                        on_change=lambda e, r=room_id: self.set_mode(r, e.value),
                    ).props("dense no-caps").mark(f"room-{room_id}-mode")
                else:
                    ui.label(_("automation: {mode}").format(mode=_(MODES[mode]))).classes(
                        "text-caption"
                    ).mark(f"room-{room_id}-mode")
            self.columns[room_id] = ui.column().classes("w-full gap-2")
            for module in self.modules.modules(room_id):
                self._add_row(module.as_dict())
            if page_allows("admin", site=site, quiet=True):
                with ui.row().classes("items-center gap-2"):
                    kind = ui.select(KIND_OPTIONS, value="ventilation", label=_("Module type")).classes(
                        "w-40"
                    )
                    kind.mark(f"room-{room_id}-new-type")
                    name = ui.input(_("Name (optional)")).classes("w-40").mark(f"room-{room_id}-new-name")
                    small_button(_("Add module"), "add", lambda r=room_id, k=kind, n=name: self.add(r, k, n),
                                 f"room-{room_id}-add")  # fmt: skip
            await self._history_of(room_id)

    async def _history_of(self, room_id: int) -> None:
        history = ui.refreshable(self._history)
        await history(room_id)
        self.histories[room_id] = (history, Coalesced(lambda r=room_id: self._reload_history(r)))

    async def _history(self, room_id: int) -> None:
        ids = {m.id for m in self.modules.modules(room_id)}
        if not ids:
            return
        actions = [a for a in await self.modules.history(limit=200) if a["module_id"] in ids][:HISTORY]
        proposals = [a for a in actions if a["status"] == "proposed"]
        for action in proposals:
            with ui.row().classes("items-center gap-2").mark(f"proposal-{action['id']}"):
                ui.icon("lightbulb", color="accent")
                ui.label(
                    _("Proposed: {action_line}").format(
                        action_line=action_line(action, self.room_zones.get(room_id))
                    )
                )
                if not page_allows("operator", site=action.get("enseigne"), quiet=True):
                    continue
                small_button(_("Confirm"), "check", lambda a=action: self.decide(a, True),
                             f"proposal-{action['id']}-confirm")  # fmt: skip
                small_button(_("Dismiss"), "close", lambda a=action: self.decide(a, False),
                             f"proposal-{action['id']}-dismiss", "grey")  # fmt: skip
        with (
            ui.expansion(_("Action history"), icon="history")
            .classes("w-full")
            .mark(f"room-{room_id}-history")
        ):
            if not actions:
                ui.label(_("No actions yet.")).classes("text-grey-7")
            for action in actions:
                with ui.row().classes("items-center gap-2"):
                    colour = STATUS_COLOURS.get(action["status"], "grey")
                    ui.badge(action_status(action["status"]), color=colour).mark(
                        f"action-{action['id']}-status"
                    )
                    ui.label(action_line(action, self.room_zones.get(room_id))).classes("text-body2")
                    if action.get("error"):
                        ui.label(action["error"]).classes("text-caption text-negative")

    async def _reload_history(self, room_id: int) -> None:
        history, _unused = self.histories[room_id]
        history.refresh(room_id)

    @staticmethod
    def _rate_text(rate: tuple[float, float, int] | None) -> str:
        if rate is None:
            return _("air change rate: not measured yet")
        return _("air change rate: {rate} /h (r² {r2})").format(
            rate=number(rate[0], 1), r2=number(rate[1], 2)
        )

    def _add_row(self, module: dict[str, Any]) -> None:
        with self.columns[module["room_id"]]:
            may = page_allows("operator", site=self.room_sites.get(module["room_id"]), quiet=True)
            self.rows[module["id"]] = ModuleRow(
                {**module, "pending": self.modules.pending_desired(module["id"])}, self.act if may else None
            )

    # -- events -----------------------------------------------------------------------------------------
    def on_state(self, module: dict[str, Any]) -> None:
        row = self.rows.get(module["id"])
        if row is not None:
            row.update({**module, "pending": self.modules.pending_desired(module["id"])})
        elif module.get("room_id") in self.columns:  # a module added here, in another tab or by the API
            self._add_row(module)

    async def on_action(self, action: dict[str, Any]) -> None:
        room_id = action.get("room_id")
        if room_id in self.histories:
            await self.histories[room_id][1]()
        if action.get("ach_per_h") is not None and room_id in self.rates:
            self.rates[room_id].set_text(self._rate_text((action["ach_per_h"], action["ach_r2"] or 0.0, 0)))

    # -- acting -----------------------------------------------------------------------------------------
    def _module_site(self, module_id: int) -> str | None:
        try:
            return self.modules.module(module_id).site
        except NotFound:
            return None

    async def act(self, module_id: int, action: str) -> None:
        if not page_allows("operator", site=self._module_site(module_id)):
            return
        try:
            module = self.modules.module(module_id)
        except NotFound:
            ui.notify(_("This module was deleted meanwhile"), type="warning")
            return
        done = await attempt(
            _("The command was not sent"),
            self.modules.command(module_id, action, requested_by=page_actor(), source="manual"),
            done=lambda d: _("{name}: {action_label} requested").format(
                name=module.name, action_label=action_label(action)
            ),
            audit=N_("module command"),
            target=f"module {module_id} ({module.name}): {action}",
        )
        if done is not None:
            row = self.rows.get(module_id)
            if row is not None:
                row.update({**self.modules.module(module_id).as_dict(), "pending": done["desired"]})

    async def add(self, room_id: int, kind: ui.select, name: ui.input) -> None:
        if not page_allows("admin", site=self.room_sites.get(room_id)):
            return
        added = await attempt(
            _("The module was not added"),
            self.modules.add_module(None, None, kind.value, name.value or None, room_id=room_id),
            done=lambda m: _("{value} added (MQTT topic {value2})").format(
                value=m["name"], value2=m["topic"]
            ),
            audit=N_("module added"),
            target=f"room {room_id}: {kind.value}",
        )
        if added is not None:
            name.value = ""

    async def set_mode(self, room_id: int, mode: str) -> None:
        if not page_allows("admin", site=self.room_sites.get(room_id)):
            return
        await attempt(
            _("The automation was not changed"),
            self.automation.set_room_settings(room_id, {"mode": mode}),
            done=_("Automation: {value}").format(value=_(MODES[mode])),
            audit=N_("automation changed"),
            target=f"room {room_id}: {mode}",
        )

    async def decide(self, action: dict[str, Any], confirm: bool) -> None:
        if not page_allows("operator", site=action.get("enseigne")):
            return
        verdict = "confirmed" if confirm else "declined"
        await attempt(
            _("The proposal was not decided"),
            self.modules.decide_proposal(action["id"], confirm, page_actor()),
            done=_("Proposal {verdict}").format(verdict=verdict),
            audit=f"proposal {verdict}",
            target=f"action {action['id']}",
        )
