"""Demo mode (`IAQ_DEMO=1`): the demo's sites and rooms, their modules wired to the simulated rooms, the last
hours back-filled on a first start, then readings as they come. The demo goes through the platform's own
services, as an operator and real devices would."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from app.core.storage.base import TimeSeriesStore

from ..config import ConfigService
from ..ingestion import IngestionService
from ..modules import ModuleService
from .demo import DEMO_SITES, DemoSimulator, SiteSpec

DEMO_MODULES = ("ventilation", "purifier", "window")
SATURDAY = [["10:00", "19:00"]]  # the store opens on Saturdays too


class DemoDevices(Protocol):
    """Simulated devices that act on a simulated room (in memory, or on the broker)."""

    def attach(
        self, topic: str, module_type: str, model: Any, state: dict[str, Any] | None = None
    ) -> None: ...

    async def close(self) -> None: ...


class DemoSetup:
    def __init__(
        self,
        *,
        config: ConfigService,
        modules: ModuleService,
        ingestion: IngestionService,
        store: TimeSeriesStore,
        devices: DemoDevices,
        interval_s: float,
        backfill_hours: float,
        sites: tuple[SiteSpec, ...] = DEMO_SITES,
    ):
        self.config, self.modules, self.ingestion, self.store = config, modules, ingestion, store
        self.devices, self.backfill_hours, self.sites = devices, backfill_hours, sites
        self.simulator = DemoSimulator(self._sink, interval_s=interval_s, sites=sites)

    async def close(self) -> None:
        self.simulator.stop()
        await self.devices.close()

    async def _sink(self, payloads: list[dict]) -> None:
        await self.ingestion.ingest(payloads, source="simulator")

    async def run(self) -> None:
        """The demo's worker: set up what is missing, back-fill an empty store, then simulate live."""
        await self.register_sites()
        await self.wire_modules()
        if self.backfill_hours > 0 and await asyncio.to_thread(self.store.count) == 0:
            await self.simulator.backfill(hours=self.backfill_hours)
        await self.simulator.run()

    async def register_sites(self) -> None:
        """Create the demo sites with their time zones and opening hours, unless they exist (then leave them:
        an operator may have changed them)."""
        existing = {s["name"] for s in await self.config.list_sites()}
        weekdays = {day: [["08:00", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
        new = [
            {
                "name": site.name,
                "timezone": site.tz,
                "opening_hours": weekdays
                if site.name == "Head office"
                else {**weekdays, "sat": [["10:00", "19:00"]]},
                "rooms": [{"name": room.name, "sensors": [room.sensor_id]} for room in site.rooms],
            }
            for site in self.sites
            if site.name not in existing
        ]
        if new:
            await self.config.import_config({"sites": new})

    async def wire_modules(self) -> None:
        """A ventilation, a purifier and a window in every demo room, whose simulated devices act on the
        simulated rooms (so commands show in the readings); after a restart, as their modules were left."""
        for room in self.simulator.rooms:
            try:
                room_id = await self.modules.room_id(room.site, room.room)
            except Exception:
                continue  # an operator deleted it
            await self.modules.ensure_modules(room_id, DEMO_MODULES)
            for module in self.modules.modules(room_id):
                self.devices.attach(module.topic, module.module_type, room.model, module.state)
