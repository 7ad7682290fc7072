"""Action effectiveness: after a room's ventilation (or window) is switched on, follow its CO2 and estimate
the air change rate from the decay (`app.core.domain.modules.air_change_rate`); the figure is stored with the
action, so facility managers see which rooms ventilate poorly.

The decay is followed from the first reading that arrives after the acknowledgement, in reading time; it
ends after `window_s` of readings, or earlier when the module is switched off (the estimate then uses what
was seen). The method assumes no CO2 source: with people in the room the figure is low and its r² tells.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from app.core.bus import EventBus, Measurement
from app.core.domain.modules import air_change_rate

from .modules import ModuleService

log = logging.getLogger(__name__)
TRACKED_TYPES = ("ventilation", "window")


@dataclass(slots=True)
class _Decay:
    action_id: int
    module_id: int
    start_ms: int | None = None  # the first reading's time after the acknowledgement
    samples: list[tuple[float, float]] = field(default_factory=list)


class EffectivenessTracker:
    def __init__(self, modules: ModuleService, bus: EventBus, *, window_s: float = 1200.0,
                 outdoor_co2_ppm: float = 420.0):  # fmt: skip
        self.modules, self.bus = modules, bus
        self.window_ms = int(window_s * 1000)
        self.outdoor_co2_ppm = outdoor_co2_ppm
        self._decays: dict[int, _Decay] = {}  # room id -> the decay being followed
        self._tasks: set[asyncio.Task] = set()
        self.estimates = 0  # figures stored since start

    def start(self) -> None:
        self.modules.action_listeners.append(self.on_action)
        self.bus.measurements.subscribe(self.on_measurements)

    def on_action(self, action: dict[str, Any]) -> None:
        if action.get("module_type") not in TRACKED_TYPES or action.get("room_id") is None:
            return
        room_id = action["room_id"]
        turned_on = bool(action["desired"].get("on") or action["desired"].get("open"))
        if action["status"] == "acknowledged" and turned_on:
            self._decays[room_id] = _Decay(action["id"], action["module_id"])
        elif action["status"] == "acknowledged" and room_id in self._decays:
            self._conclude(room_id)  # switched off: estimate from what was seen

    def on_measurements(self, batch: list[Measurement]) -> None:
        if not self._decays:
            return
        for m in batch:
            decay = self._decays.get(m.room_id)
            co2 = m.values.get("co2")
            if decay is None or co2 is None:
                continue
            if decay.start_ms is None:
                decay.start_ms = m.ts_ms
            if m.ts_ms < decay.start_ms:
                continue
            decay.samples.append(((m.ts_ms - decay.start_ms) / 1000, co2))
            if m.ts_ms - decay.start_ms >= self.window_ms:
                self._conclude(m.room_id)

    def _conclude(self, room_id: int) -> None:
        decay = self._decays.pop(room_id)
        estimate = air_change_rate(decay.samples, self.outdoor_co2_ppm)
        if estimate is None:
            log.info("action %d: too few decaying CO2 readings for an air change rate", decay.action_id)
            return
        task = asyncio.create_task(self._store(decay.action_id, estimate.ach_per_h, estimate.r2))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store(self, action_id: int, ach: float, r2: float) -> None:
        await self.modules.set_effectiveness(action_id, ach, r2)
        self.estimates += 1
