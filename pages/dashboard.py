"""`/`: the portfolio of every room, worst first, then every site with its rooms as live tiles (a room's own
page is `pages/room.py`). The page subscribes to the bus inside the page, so its callbacks go away with the
browser tab.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import Request
from nicegui import background_tasks, ui

from app.core.bus import Measurement
from app.core.domain.score import split_stale
from app.core.i18n import _
from components.access import page_bus, page_sites
from components.frame import frame
from components.portfolio import PortfolioRoom, PortfolioTable
from components.refresh import Coalesced
from components.storage_status import storage_banner
from components.tiles import AGE_REFRESH_S, RoomTile
from services.query import SiteLatest
from services.scope import keep

if TYPE_CHECKING:
    from app.runtime import Runtime

PORTFOLIO_REFRESH_S = 30  # the sparklines and silent rooms' scores
PORTFOLIO_LIVE_S = 15  # at most this often on new readings (each refresh reads 24 h of every room)
EXAMPLE_READING = (
    '{"sensor_id": "s1", "enseigne": "Head office", "salle": "Meeting room", '
    '"values": {"co2": 800, "pm25": 10, "tvoc": 200, "temperature": 22, "humidity": 45}}'
)


def register(runtime: Runtime) -> None:
    @ui.page("/")
    async def dashboard_page(request: Request) -> None:
        with frame(_("Dashboard")):
            storage_banner(runtime.health.storage(), runtime.bus.storage)
            await SiteBoard(runtime, origin=str(request.base_url).rstrip("/")).start()


def score_options(runtime: Runtime, room_id: int, site: str, times: dict[str, int] | None) -> dict[str, Any]:
    """What a tile needs to compute the room's score as the API does: thresholds (from memory), value times
    and the stale limit."""
    return {
        "thresholds": runtime.scoring.thresholds_for(room_id, site),
        "times": times,
        "stale_after_s": runtime.settings.score_stale_after_s,
    }


def empty_state(origin: str) -> None:
    """What a fresh install shows: three ways to get the first rooms on screen."""
    with ui.card().classes("w-full max-w-3xl gap-3").mark("empty-state"):
        ui.label(_("No sites yet")).classes("text-h6")
        ui.label(_("Rooms appear here, live, as soon as the platform knows them. Three ways to start:"))
        ui.markdown(
            _(
                "**1. Demo rooms**: start the platform with `IAQ_DEMO=1` (`make run` does it); "
                "simulated rooms fill this page within seconds."
            )
        )
        ui.markdown(_("**2. Send a reading**: the first reading of a sensor creates its site and room."))
        ui.code(
            f"curl -X POST {origin}/api/ingest \
  -H 'Content-Type: application/json' \
"
            f"  -d '{EXAMPLE_READING}'",
            language="bash",
        ).classes("w-full").mark("curl-example")
        with ui.row().classes("items-center gap-1"):
            ui.markdown(_("**3. Set up sites and rooms by hand** in"))
            ui.link(_("Settings"), "/settings")


class SiteBoard:
    """All sites as sections of room tiles. Readings update their tile in place; a reading for a room
    that has no tile yet, or a configuration change, rebuilds the sections."""

    def __init__(self, runtime: Runtime, *, origin: str) -> None:
        self.runtime, self.origin = runtime, origin
        self.tiles: dict[int, RoomTile] = {}
        self.seen: dict[int, tuple[dict[str, float], int]] = {}  # live readings, replayed onto rebuilt tiles
        self.reload = Coalesced(self._reload)
        self.refresh_portfolio = Coalesced(self._refresh_portfolio)
        self.portfolio_shown = 0.0  # monotonic time of the last live refresh
        self.sites = page_sites()  # a site-limited account sees its sites' tiles only

    async def start(self) -> None:
        overview = keep(self.sites, await self.runtime.query.overview())
        with ui.column().classes("w-full gap-1") as self.portfolio_box:
            with ui.row().classes("items-baseline gap-2"):
                ui.label(_("All rooms, worst first")).classes("text-h6")
                ui.label(_("scores now and over 24 h; click a room to open it")).classes(
                    "text-caption text-grey-7"
                )
            self.portfolio = PortfolioTable(lambda room_id: ui.navigate.to(f"/rooms/{room_id}"))
        await self._show_portfolio(overview)
        self.sections(overview)
        bus = page_bus(self.runtime.bus)
        bus.measurements.subscribe(self.on_measurements)
        bus.config_changed.subscribe(self.reload)
        bus.alerts.subscribe(self.on_alert)
        ui.timer(PORTFOLIO_REFRESH_S, self.refresh_portfolio)
        ui.timer(AGE_REFRESH_S, self.tick)  # one timer for every tile's age

    def tick(self) -> None:
        for tile in self.tiles.values():
            tile.tick()

    async def _reload(self) -> None:
        overview = keep(self.sites, await self.runtime.query.overview())
        await self._show_portfolio(overview)
        self.sections.refresh(overview)

    async def _show_portfolio(self, overview: list[SiteLatest]) -> None:
        rooms = [(site, room) for site in overview for room in site.rooms]
        self.portfolio_box.set_visibility(len(rooms) > 1)  # one room is its tile
        hourly = await self.runtime.query.hourly_means([room.id for _, room in rooms])
        counts = self.runtime.alerting.open_counts()
        now_ms, stale_ms = int(time.time() * 1000), int(self.runtime.settings.score_stale_after_s * 1000)
        self.portfolio.show(
            [
                PortfolioRoom(
                    room.id,
                    site.name,
                    room.name,
                    split_stale({m: (v, room.times[m]) for m, v in room.values.items()}, now_ms, stale_ms)[0],
                    hourly.get(room.id, []),
                    self.runtime.scoring.thresholds_for(room.id, site.name),
                    sum(counts.get(room.id, {}).values()),
                )
                for site, room in rooms
            ]
        )

    async def on_alert(self, _alert: dict[str, Any]) -> None:
        counts = self.runtime.alerting.open_counts()
        for room_id, tile in self.tiles.items():
            tile.show_alerts(counts.get(room_id))
        await self.refresh_portfolio()

    async def _refresh_portfolio(self) -> None:
        await self._show_portfolio(keep(self.sites, await self.runtime.query.overview()))

    @ui.refreshable_method
    def sections(self, overview: list[SiteLatest]) -> None:
        self.tiles = {}
        open_alerts = self.runtime.alerting.open_counts()
        if not overview and self.sites is not None:
            ui.label(
                _("None of your sites ({join}) has rooms yet.").format(join=", ".join(sorted(self.sites)))
            ).mark("no-sites")
            return
        if not overview:
            empty_state(self.origin)
            return
        for site in overview:
            with ui.column().classes("w-full gap-2").mark(f"site-{site.id}"):
                with ui.row().classes("items-baseline gap-2"):
                    ui.label(site.name).classes("text-h6")
                    ui.label(site.timezone).classes("text-caption text-grey-7")
                if not site.rooms:
                    ui.label(
                        _("No rooms yet: a reading for this site creates its room, or add one in Settings.")
                    ).classes("text-grey-7")
                with ui.row().classes("gap-4"):
                    for room in site.rooms:
                        tile = RoomTile(
                            room.name,
                            room.values,
                            room.updated_ms,
                            target=f"/rooms/{room.id}",
                            ticking=False,
                            **score_options(self.runtime, room.id, site.name, room.times),
                        )
                        tile.element.mark(f"room-{room.id}")
                        tile.show_alerts(open_alerts.get(room.id))
                        if room.id in self.seen:
                            tile.update(*self.seen[room.id])
                        self.tiles[room.id] = tile

    async def on_measurements(self, batch: list[Measurement]) -> None:
        if time.monotonic() - self.portfolio_shown > PORTFOLIO_LIVE_S:  # scores in step with the tiles
            self.portfolio_shown = time.monotonic()
            background_tasks.create(self.refresh_portfolio(), name="portfolio")
        unknown = False
        for m in batch:
            values, ts_ms = self.seen.get(m.room_id, ({}, m.ts_ms))
            if m.ts_ms >= ts_ms:
                self.seen[m.room_id] = ({**values, **m.values}, m.ts_ms)
            tile = self.tiles.get(m.room_id)
            if tile is None:
                unknown = True
            else:
                tile.update(m.values, m.ts_ms)
        if unknown:
            await self.reload()
