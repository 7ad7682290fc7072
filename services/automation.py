"""Automation per room: `off`, `recommend` (actions are proposed; an operator confirms) or `auto` (the
platform acts). Decisions come in through one method, `consider(room, pollutant, level, reason)`: from the
room's readings (with its on/off thresholds, a hysteresis), from raised alerts, and later from forecasts.

So that it never oscillates: a module the automation switched on stays on for `min_on_s`; after switching it
off, the automation waits `cooldown_s` before switching it on again; at most `daily_budget` automatic actions
per room in 24 h. Manual commands win: after an operator's command the automation leaves that module alone
for `manual_hold_s`, and never switches off a module a person switched on. Times are the readings' times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from typing import Any

from app.core.bus import EventBus, Measurement
from app.core.domain.modules import is_active
from app.core.domain.readings import FieldError, InvalidInput
from app.core.i18n import _
from app.core.storage.modules import AUTOMATION_DEFAULTS, AUTOMATION_FIELDS, SqlModuleStore

from .modules import ModuleService

log = logging.getLogger(__name__)
MODES = ("off", "recommend", "auto")
# which modules treat which pollutant, in order of preference
POLLUTANT_MODULES = {
    "co2": ("ventilation", "window"),
    "tvoc": ("ventilation", "window"),
    "pm25": ("purifier",),
    "pm10": ("purifier",),
}
ACT_LEVELS = {"high", "critical", "poor", "very_high"}
CLEAR_LEVELS = {"ok", "good", "low", "normal"}
DAY_MS = 86_400_000


class AutomationService:
    def __init__(self, *, modules: ModuleService, store: SqlModuleStore, bus: EventBus):
        self.modules, self.store, self.bus = modules, store, bus
        self.settings: dict[int, dict[str, Any]] = {}
        self._demand: dict[int, set[str]] = {}  # module id -> pollutants asking for it
        self._on_since: dict[int, int] = {}  # module id -> when the automation switched it on
        self._off_at: dict[int, int] = {}  # module id -> when the automation switched it off
        self._spent: dict[int, deque[int]] = {}  # room id -> times of its automatic actions
        self._proposed: dict[tuple[int, str], int] = {}  # (module, action) -> open proposal id
        self._inbox: deque[tuple[int, str, str, dict[str, Any], int]] = deque()
        self._wake = asyncio.Event()
        self._busy = False
        self.considered = 0
        self.readings_seen = 0  # readings the automation has looked at since start

    def load(self) -> None:
        self.settings = self.store.automation()

    def start(self) -> None:
        self.bus.measurements.subscribe(self.on_measurements)
        self.bus.alerts.subscribe(self.on_alert)
        self.bus.forecast_crossings.subscribe(self.on_forecast)
        self.modules.action_listeners.append(self._on_action)

    # -- settings -----------------------------------------------------------------------------------------
    def room_settings(self, room_id: int) -> dict[str, Any]:
        return {**AUTOMATION_DEFAULTS, **self.settings.get(room_id, {})}

    async def set_room_settings(self, room_id: int, changes: Any) -> dict[str, Any]:
        """Change some of a room's automation settings; the whole is checked. 422 names the field."""
        if not isinstance(changes, dict):
            raise FieldError("body", _("must be a JSON object")).as_error()
        unknown = sorted(set(changes) - set(AUTOMATION_FIELDS))
        if unknown:
            raise FieldError(
                unknown[0], _("unknown setting; known: {list}").format(list=list(AUTOMATION_FIELDS))
            ).as_error()
        merged = {**self.room_settings(room_id), **changes}
        errors = []
        if merged["mode"] not in MODES:
            errors.append(FieldError("mode", _("must be one of {list}").format(list=list(MODES))))
        for key in AUTOMATION_FIELDS[1:]:
            value = merged[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                errors.append(FieldError(key, _("must be a number")))
            elif value < 0:
                errors.append(FieldError(key, _("must be >= 0")))
        if not errors and merged["daily_budget"] != int(merged["daily_budget"]):
            errors.append(FieldError("daily_budget", _("must be a whole number of actions")))
        for on, off in (("co2_on_ppm", "co2_off_ppm"), ("pm25_on_ugm3", "pm25_off_ugm3")):
            if not errors and merged[off] >= merged[on]:
                problem = f"must be below {on} ({merged[on]:g}), or the modules would flap"
                errors.append(FieldError(off, problem))
        if errors:
            raise InvalidInput(errors)
        merged["daily_budget"] = int(merged["daily_budget"])
        await asyncio.to_thread(self.store.save_automation, room_id, merged)
        self.settings[room_id] = merged
        return merged

    # -- inputs ---------------------------------------------------------------------------------------------
    def on_measurements(self, batch: list[Measurement]) -> None:
        """Readings as levels, with each room's hysteresis: above `*_on` is high, below `*_off` is ok."""
        self.readings_seen += len(batch)
        for m in batch:
            settings = self.settings.get(m.room_id)
            if settings is None or settings["mode"] == "off":
                continue
            for pollutant, on, off in (
                ("co2", settings["co2_on_ppm"], settings["co2_off_ppm"]),
                ("pm25", settings["pm25_on_ugm3"], settings["pm25_off_ugm3"]),
            ):
                value = m.values.get(pollutant)
                if value is None:
                    continue
                level = "high" if value >= on else "ok" if value <= off else None
                if level is not None:
                    reason = {"pollutant": pollutant, "value": value, "level": level, "source": "readings"}
                    self._inbox.append((m.room_id, pollutant, level, reason, m.ts_ms))
        if self._inbox:
            self._wake.set()

    def on_alert(self, alert: dict[str, Any]) -> None:
        if alert.get("event") != "raised" or alert.get("metric") not in POLLUTANT_MODULES:
            return
        if self.room_settings(alert["room_id"])["mode"] == "off":
            return
        level = "critical" if alert.get("severity") == "critical" else "high"
        reason = {"pollutant": alert["metric"], "value": alert.get("value"), "level": level,
                  "source": "alert", "alert_id": alert["id"]}  # fmt: skip
        self._inbox.append((alert["room_id"], alert["metric"], level, reason, self.modules.now_ms()))
        self._wake.set()

    def on_forecast(self, crossing: dict[str, Any]) -> None:
        """A forecast that the room will cross a threshold within the horizon (services/forecasting/
        preventive.py): the preventive action, proposed or taken like any other, with the same limits."""
        room_id, metric = crossing.get("room_id"), crossing.get("metric")
        if room_id is None or metric not in POLLUTANT_MODULES or self.room_settings(room_id)["mode"] == "off":
            return
        reason = {
            "pollutant": metric,
            "value": crossing.get("forecast"),
            "level": "high",
            "source": "forecast",
            "within_min": crossing.get("within_min"),
            "confidence": crossing.get("confidence"),
        }
        expected = (crossing.get("action") or {}).get("expected_if_taken")
        if expected is not None:  # the forecast with the ventilation on: what acting should achieve
            reason["expected_if_taken"] = expected
        self._inbox.append((room_id, metric, "high", reason, self.modules.now_ms()))
        self._wake.set()

    async def run(self) -> None:
        """The worker: takes decisions one at a time, in arrival order."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.drain()

    async def drain(self) -> None:
        self._busy = True
        try:
            while self._inbox:
                room_id, pollutant, level, reason, ts_ms = self._inbox.popleft()
                try:
                    await self.consider(room_id, pollutant, level, reason, ts_ms=ts_ms)
                except Exception:
                    log.exception("automation of room %d failed on %s", room_id, pollutant)
        finally:
            self._busy = False

    @property
    def idle(self) -> bool:
        return not self._inbox and not self._busy

    # -- the decision -------------------------------------------------------------------------------------
    async def consider(
        self, room_id: int, pollutant: str, level: str, reason: dict[str, Any], *, ts_ms: int | None = None
    ) -> dict[str, Any] | None:
        """The decision input (readings, alerts, forecasts): `level` high/critical asks for the pollutant's
        module, ok releases it. Returns the action taken or proposed, if any."""
        self.considered += 1
        settings = self.room_settings(room_id)
        mode = settings["mode"]
        if mode == "off" or pollutant not in POLLUTANT_MODULES:
            return None
        module = self._module_for(room_id, pollutant)
        if module is None:
            return None
        ts = self.modules.now_ms() if ts_ms is None else ts_ms
        demand = self._demand.setdefault(module.id, set())
        pending = self.modules.pending_desired(module.id)
        active = is_active(pending) if pending is not None else is_active(module.state)
        if level in ACT_LEVELS:
            demand.add(pollutant)
            if active or self._held(module.id, ts, settings):
                return None
            if ts - self._off_at.get(module.id, -(10**15)) < settings["cooldown_s"] * 1000:
                return None
            action = _on_action(module)
        elif level in CLEAR_LEVELS:
            demand.discard(pollutant)
            proposal = None if demand else self._proposed.pop((module.id, _on_action(module)), None)
            if proposal is not None:  # nobody confirmed in time and the air cleared: take it back
                await self.modules.withdraw_proposal(
                    proposal, f"{pollutant} back to {level} before a decision"
                )
                return None
            on_since = self._on_since.get(module.id)
            if demand or not active or on_since is None or self._held(module.id, ts, settings):
                return None  # still needed, already off, or switched on by a person: leave it
            if ts - on_since < settings["min_on_s"] * 1000:
                return None
            action = "close" if module.module_type == "window" else "turn_off"
        else:
            return None
        return await self._act(room_id, module, action, level, {**reason, "automation": mode}, ts, settings)

    async def _act(
        self, room_id: int, module, action: str, level: str, reason: dict[str, Any], ts: int, settings: dict
    ) -> dict[str, Any] | None:
        """Propose (`recommend`) or carry out (`auto`) `action`, within the room's daily budget."""
        spent = self._spent.setdefault(room_id, deque())
        while spent and ts - spent[0] >= DAY_MS:
            spent.popleft()
        if len(spent) >= settings["daily_budget"]:
            return None
        if settings["mode"] == "recommend":
            if (module.id, action) in self._proposed:
                return None
            proposal = await self.modules.propose(module.id, action, reason=reason)
            self._proposed[(module.id, action)] = proposal["id"]
            return proposal
        spent.append(ts)
        if action in ("turn_on", "open"):
            self._on_since[module.id] = ts
        else:
            self._on_since.pop(module.id, None)
            self._off_at[module.id] = ts
        return await self.modules.command(
            module.id, action, requested_by="automation", source="automation", reason=reason,
            priority="high" if level == "critical" else "normal",
        )  # fmt: skip

    def _module_for(self, room_id: int, pollutant: str):
        modules = self.modules.modules(room_id)
        for module_type in POLLUTANT_MODULES[pollutant]:
            for module in modules:
                if module.module_type == module_type and module.available:
                    return module
        return None

    def _held(self, module_id: int, ts: int, settings: dict[str, Any]) -> bool:
        manual = self.modules.last_manual_ms.get(module_id)
        return manual is not None and ts - manual < settings["manual_hold_s"] * 1000

    def _on_action(self, action: dict[str, Any]) -> None:
        module_id = action["module_id"]
        if action["source"] != "automation" and action["status"] == "pending":
            self._on_since.pop(module_id, None)  # a person took over this module
        if action["status"] in ("dismissed", "confirmed"):
            for key, proposal in list(self._proposed.items()):
                if proposal == action["id"]:
                    del self._proposed[key]

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.bus.measurements.unsubscribe(self.on_measurements)
            self.bus.alerts.unsubscribe(self.on_alert)
            self.bus.forecast_crossings.unsubscribe(self.on_forecast)


def _on_action(module) -> str:
    return "open" if module.module_type == "window" else "turn_on"
