"""`/twin` and `/twin/{site_id}`: the digital twin of a site, live. Rooms are coloured volumes on their
floors; a click opens the room's panel (latest values, score, a chart of the last hours, open alerts, its
model).

Readings update the scene in place from the bus; a configuration change (geometry, model, rooms) rebuilds it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from nicegui import ui

from app.core.bus import Measurement
from app.core.domain.geometry import site_layout
from app.core.domain.metrics import CORE_METRICS
from app.core.i18n import N_, _
from components.access import page_actor, page_allows, page_bus, page_sees, page_sites
from components.actions import attempt
from components.charts import Aggregate, SeriesChart
from components.dialogs import confirm
from components.frame import add_nav_link, frame
from components.labels import alert_state, metric_name, module_kind, rule_name
from components.modules import action_label
from components.refresh import Coalesced
from components.room_editor import RoomEditor
from components.room_scene import SCORE_MODE, RoomScene, TwinRoom, legend
from components.storage_status import SeriesNotice
from components.tiles import RoomTile
from components.times import local_time
from services.errors import NotFound
from services.scope import Selection, keep

if TYPE_CHECKING:
    from app.runtime import Runtime

CHART_HOURS, CHART_STEP_S = 6, 300
MODES = {SCORE_MODE: N_("IAQ score"), **{m: info.label for m, info in CORE_METRICS.items()}}  # shown with _()


def register(runtime: Runtime) -> None:
    add_nav_link(N_("Twin"), "/twin", icon="view_in_ar", order=20)

    @ui.page("/twin")
    async def twin_page() -> None:
        await _open(runtime, None)

    @ui.page("/twin/{site_id}")
    async def twin_site_page(site_id: str, room: str | None = None) -> None:
        """`?room=<id>` flies to that room and opens its panel (the Settings page links here)."""
        await _open(runtime, site_id, int(room) if room and room.isdigit() else None)


async def _open(runtime: Runtime, site_id: str | None, room_id: int | None = None) -> None:
    every = await runtime.config.list_sites()
    sites = keep(page_sites(), every)  # a site-limited account has the twins of its sites only
    if site_id is not None and any(str(s["id"]) == site_id and not page_sees(s["name"]) for s in every):
        with frame(_("Digital twin"), section="/twin"):
            ui.label(
                _("This account may not see the site with id {site_id!r}.").format(site_id=site_id)
            ).mark("twin-refused")
            ui.link(_("Back to the dashboard"), "/")
        return
    site = (
        sites[0] if sites and site_id is None else next((s for s in sites if str(s["id"]) == site_id), None)
    )
    if site is None:
        with frame(_("Digital twin"), section="/twin"):
            if sites:
                ui.label(_("There is no site with id {site_id!r}.").format(site_id=site_id)).mark(
                    "twin-missing"
                )
            else:
                ui.label(_("No sites yet: the twin shows a site as soon as it has rooms.")).mark(
                    "twin-missing"
                )
            ui.link(_("Back to the dashboard"), "/")
        return
    with frame(_("Twin · {value}").format(value=site["name"]), section="/twin"):
        view = TwinView(runtime, site, sites)
        view.room_id = room_id
        await view.start()


class TwinView:
    """Controls, legend, the scene and the room panel of one site."""

    def __init__(self, runtime: Runtime, site: dict[str, Any], sites: list[dict[str, Any]]) -> None:
        self.runtime, self.site, self.sites = runtime, site, sites
        self.models = runtime.room_models
        self.mode = SCORE_MODE
        self.floor: int | None = None
        self.room_id: int | None = None  # the room whose panel is open
        self.twin: RoomScene | None = None
        self.panel_tile: RoomTile | None = None
        self.panel_chart: SeriesChart | None = None
        self.reload = Coalesced(self._reload)

    async def start(self) -> None:
        with ui.row().classes("w-full items-center gap-4"):
            if len(self.sites) > 1:
                ui.select(
                    {s["id"]: s["name"] for s in self.sites},
                    value=self.site["id"],
                    label=_("Site"),
                    on_change=lambda e: ui.navigate.to(f"/twin/{e.value}"),
                ).classes("w-48").mark("twin-site")
            modes = {mode: _(label) for mode, label in MODES.items()}
            ui.select(modes, value=self.mode, label=_("Colour by"), on_change=self._mode_changed).classes(
                "w-40"
            ).mark("twin-mode")
            self.floor_select = ui.select({}, label=_("Floor"), on_change=self._floor_changed).classes("w-32")
            self.floor_select.mark("twin-floor")
            self.room_select = ui.select({}, label=_("Go to room"), on_change=self._room_chosen).classes(
                "w-56"
            )
            self.room_select.mark("twin-room")
            ui.button(
                _("Whole site"), icon="zoom_out_map", on_click=lambda: self.twin and self.twin.show_all()
            )
            ui.button(_("Back to the dashboard"), on_click=lambda: ui.navigate.to("/")).props("flat")
        self.legend_box = ui.row().classes("w-full")
        # the room panels' charts read the time series: say when part of it is unavailable (built once here,
        # not in the panel, which is rebuilt for every room)
        self.notice = SeriesNotice(
            self.runtime.health.storage(), self.runtime.bus.storage, what=_("the room panel's chart")
        )
        # side by side on a wide screen; on a phone the panel goes under the scene, which keeps the width
        with ui.element("div").classes("w-full flex flex-col md:flex-row md:flex-nowrap items-start gap-4"):
            self.scene_box = ui.column().classes("w-full md:w-auto md:flex-1 gap-1").style("min-width: 0")
            self.panel = ui.column().classes("gap-2 w-full md:w-[380px] md:flex-none").mark("twin-panel")
        self._show_legend()
        await self._build(fly=True)
        bus = page_bus(self.runtime.bus)
        bus.measurements.subscribe(self.on_measurements)
        bus.config_changed.subscribe(self.reload)
        bus.alerts.subscribe(self.on_alert)
        bus.module_states.subscribe(self.on_module_state)

    # -- building
    async def _rooms(self) -> list[TwinRoom]:
        sites = await self.runtime.config.list_sites()
        site = next((s for s in sites if s["id"] == self.site["id"]), None)
        if site is None:
            return []
        self.site = site
        latest = {
            room.id: room
            for entry in await self.runtime.query.overview(site_id=site["id"])
            for room in entry.rooms
        }
        layout = site_layout([(r["id"], r.get("geometry")) for r in site["rooms"]])
        urls = await asyncio.to_thread(lambda: {r["id"]: self.models.url(r["id"]) for r in site["rooms"]})
        return [
            TwinRoom(
                id=r["id"],
                name=r["name"],
                geometry=layout[r["id"]],
                sensors=list(r["sensors"]),
                model_url=urls[r["id"]],
                thresholds=self.runtime.scoring.thresholds_for(r["id"], site["name"]),
                values=dict(latest[r["id"]].values) if r["id"] in latest else {},
                times=dict(latest[r["id"]].times) if r["id"] in latest else {},
            )
            for r in site["rooms"]
        ]

    async def _build(self, *, fly: bool = False) -> None:
        rooms = await self._rooms()
        self.scene_box.clear()
        with self.scene_box:
            if not rooms:
                ui.label(
                    _("This site has no rooms yet: a reading for it creates one, or add one in Settings.")
                )
                self.twin = None
                return
            self.twin = RoomScene(
                rooms,
                on_room=self.open_room,
                on_module=self.toggle_module,
                mode=self.mode,
                stale_after_s=self.runtime.settings.score_stale_after_s,
            )
            self._draw_modules(rooms)
            ui.label(
                _(
                    "Drag to turn, scroll to zoom, right-drag to pan; click a room for its details, a module "
                    "(fan, purifier, window) to switch it. "
                    "Rooms without a geometry are laid out on the ground floor."
                )
            ).classes("text-caption text-grey-7")
        floors = self.twin.floors
        self.floor_select.set_options({None: _("All floors"), **{f: _floor_name(f) for f in floors}})
        if self.floor not in floors:
            self.floor = None
        self.floor_select.value = self.floor
        self.twin.show_floor(self.floor)
        self.room_select.set_options({r.id: r.name for r in rooms})
        if self.room_id is not None and self.twin.knows(self.room_id):
            await self.open_room(self.room_id, fly=fly)
        else:
            self.close_panel()

    # -- modules: drawn in their rooms, coloured by state; a click switches them (docs/twin.md)
    def _draw_modules(self, rooms: list[TwinRoom]) -> None:
        modules = self.runtime.modules
        if self.twin is None or modules is None:
            return
        for room in rooms:
            self.twin.add_modules(room.id, [m.as_dict() for m in modules.modules(room.id)])

    def on_module_state(self, module: dict[str, Any]) -> None:
        if self.twin is not None:
            self.twin.set_module_state(module)

    async def toggle_module(self, module_id: str) -> None:
        """A click on a module: after the user confirms, switch it (on ↔ off, open ↔ closed), as the Modules
        page's buttons do. A click in a 3D scene is easily a mistake, and this moves real equipment."""
        from app.core.domain.modules import is_active

        modules = self.runtime.modules
        if modules is None or not module_id.isdigit():
            return
        try:
            module = modules.module(int(module_id))
        except NotFound:
            return
        if not page_allows("operator", site=module.site):
            return
        desired = modules.pending_desired(module.id)
        active = is_active(desired if desired is not None else module.state)
        if module.module_type == "window":
            action = "close" if active else "open"
        else:
            action = "turn_off" if active else "turn_on"
        verb = action_label(action)
        if not await confirm(
            f"{verb.capitalize()} {module.name}?",
            _("This sends the command to the {module_type} of {room} now.").format(
                module_type=module_kind(module.module_type), room=module.room
            ),
            action=verb.capitalize(),
            colour="primary",
        ):
            return
        await attempt(
            _("The command was not sent"),
            modules.command(module.id, action, requested_by=page_actor(), source="manual"),
            done=_("{name} in {room}: {verb} requested").format(
                name=module.name, room=module.room, verb=verb
            ),
            audit=N_("module command"),
            target=f"module {module.id} ({module.name}): {action}",
        )

    async def _reload(self) -> None:
        await self._build()

    # -- controls
    def _show_legend(self) -> None:
        self.legend_box.clear()
        with self.legend_box:
            legend(self.mode)

    def _mode_changed(self, e: Any) -> None:
        self.mode = e.value
        self._show_legend()
        if self.twin:
            self.twin.set_mode(self.mode)

    def _floor_changed(self, e: Any) -> None:
        self.floor = e.value
        if self.twin:
            self.twin.show_floor(self.floor)
            self.twin.show_all()

    async def _room_chosen(self, e: Any) -> None:
        if e.value is not None:
            await self.open_room(e.value)

    # -- the room panel
    def close_panel(self) -> None:
        self.room_id, self.panel_tile, self.panel_chart = None, None, None
        self.panel.clear()
        with self.panel:
            ui.label(_("Click a room to see its values, score, chart and alerts.")).classes("text-grey-7")

    async def open_room(self, room_id: int, *, fly: bool = True) -> None:
        if self.twin is None or not self.twin.knows(room_id):
            return
        room = self.twin.drawn[room_id].room
        self.room_id = room_id
        if fly:
            self.twin.focus(room_id)
        self.panel.clear()
        with self.panel:
            with ui.row().classes("w-full items-center justify-between no-wrap"):
                ui.label(room.name).classes("text-h6").mark("panel-room")
                ui.button(icon="close", on_click=self.close_panel).props("flat round dense")
            ui.link(_("Open the room's page"), f"/rooms/{room_id}")
            self.panel_tile = RoomTile(
                _("Latest values"),
                room.values,
                max(room.times.values(), default=None),
                thresholds=room.thresholds,
                times=room.times,
                stale_after_s=self.runtime.settings.score_stale_after_s,
            )
            metric = self.mode if self.mode != SCORE_MODE else "co2"
            ui.label(
                _("{label}, last {CHART_HOURS} h").format(label=metric_name(metric), CHART_HOURS=CHART_HOURS)
            ).classes("text-subtitle2")
            self.panel_chart = SeriesChart(zone=ZoneInfo(self.site["timezone"])).style("height: 220px")
            self.panel_chart.mark("panel-chart")
            self.alerts_box = ui.column().classes("w-full gap-1").mark("panel-alerts")
            self._editor(room_id)
        await self._load_chart(room_id, metric)
        await self._load_alerts(room_id, room.name)

    async def _load_chart(self, room_id: int, metric: str) -> None:
        try:
            series = await self.runtime.query.room_series(room_id, hours=CHART_HOURS, step_s=CHART_STEP_S)
        except NotFound:
            return
        if self.room_id != room_id or self.panel_chart is None:
            return  # another room was opened meanwhile
        self.notice.show_series(series)
        buckets = [
            Aggregate(a.ts_ms, s.total, s.low, s.high, s.count)
            for a in series.aggregates
            if (s := a.stats.get(metric))
        ]
        self.panel_chart.show_aggregated(
            metric, buckets, step_ms=CHART_STEP_S * 1000, range_ms=CHART_HOURS * 3600_000
        )

    async def _load_alerts(self, room_id: int, room_name: str) -> None:
        alerting = getattr(self.runtime, "alerting", None)
        if alerting is None:
            return
        open_alerts = await alerting.list_alerts(Selection(frozenset({room_id})), state="open")
        if self.room_id != room_id:
            return
        self.alerts_box.clear()
        with self.alerts_box:
            if not open_alerts:
                ui.label(_("No open alerts.")).classes("text-caption text-grey-7")
            for alert in open_alerts:
                colour = "negative" if alert["severity"] == "critical" else "warning"
                with ui.row().classes("items-center gap-2 no-wrap"):
                    ui.icon("warning", color=colour)
                    since = local_time(alert["raised_at"], alert.get("timezone") or self.site["timezone"])
                    ui.label(
                        _("{value} ({value2}) since {since}").format(
                            value=rule_name(alert["rule"]), value2=alert_state(alert["state"]), since=since
                        )
                    )

    def _editor(self, room_id: int) -> None:
        """Geometry as JSON and the .glb model upload, for the administrator setting the twin up."""
        if not page_allows("admin", site=self.site["name"], quiet=True):
            return
        room = self.twin.drawn[room_id].room if self.twin else None
        stored = next((r.get("geometry") for r in self.site["rooms"] if r["id"] == room_id), None)
        RoomEditor(self.runtime, room_id, stored or (room.geometry.as_dict() if room else {}))

    # -- live
    async def on_alert(self, alert: dict[str, Any]) -> None:
        if self.room_id is not None and alert.get("room_id") == self.room_id and self.twin is not None:
            await self._load_alerts(self.room_id, self.twin.drawn[self.room_id].room.name)

    async def on_measurements(self, batch: list[Measurement]) -> None:
        if self.twin is None:
            if any(m.site == self.site["name"] for m in batch):
                await self.reload()
            return
        unknown = any(not self.twin.knows(m.room_id) and m.site == self.site["name"] for m in batch)
        self.twin.update_many([(m.room_id, m.values, m.ts_ms, m.sensor_id) for m in batch])
        for m in batch:
            if m.room_id == self.room_id and self.panel_tile is not None:
                self.panel_tile.update(m.values, m.ts_ms)
                metric = self.mode if self.mode != SCORE_MODE else "co2"
                if self.panel_chart is not None and metric in m.values:
                    self.panel_chart.extend(m.ts_ms, m.values[metric])
        if unknown:
            await self.reload()


def _floor_name(floor: int) -> str:
    return _("Ground floor") if floor == 0 else _("Floor {floor}").format(floor=floor)
