"""The predictor: forecasts every room metric that has a model (persistence, labelled so, where only
candidates exist), stores the forecasts, publishes them and the threshold crossings automation acts on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.core.domain.timesteps import iso_ms
from app.core.storage.sql_schema import iaq_forecast

from .base import (
    EARLY_FORECAST_EVERY_S,
    HISTORY_FOR_PREDICTION_S,
    KEEP_FORECASTS_MS,
    ForecastBase,
    _Loaded,
)
from .preventive import PREVENTIVE_THRESHOLDS, crossing

log = logging.getLogger(__name__)


class Predictor(ForecastBase):
    def _predict_model(
        self, model: dict[str, Any], *, persistence: bool = False, at_s: float | None = None
    ) -> tuple[list[dict], list[dict]]:
        """Forecast a room metric with `model`, or with persistence (labelled so) when the room has only
        candidates that did not beat it. `at_s`: as it would have been forecast then, from the readings
        before it (back-filling the comparison of forecasts against what was measured); no crossing."""
        from .series import physical_bounds, to_grid  # numpy: imported when a room is first forecast
        from .training import what_if_ventilated, with_ventilation

        if persistence:
            from .training import persistence_bundle

            loaded = _Loaded(model["checksum"], persistence_bundle(model["metric"]), True)
        else:
            loaded = self._load(model)
        room_id, metric = model["room_id"], model["metric"]
        site, room, tz = self._room(room_id)
        times, values = self._history(room_id, metric, HISTORY_FOR_PREDICTION_S, at_s)
        if not times:
            return [], []
        series = to_grid(
            zip(times, values, strict=True), name=metric, metric=metric, tz=tz, step_s=loaded.bundle.step_s
        )
        if series is None:
            return [], []
        # the modules' states up to now: a state reported after the last reading is the state from now on,
        # held over the horizon by the mass balance
        steps = self._ventilation(room_id, times[0], at_s if at_s is not None else time.time())
        series = with_ventilation(series, steps)
        if steps and series.ventilation is not None:
            series.ventilation[-1] = steps[-1][1]
        forecasts = loaded.bundle.forecast(series)
        if_ventilated = {} if loaded.fallback else what_if_ventilated(loaded.bundle, series, forecasts)
        issued_ms = int((series.t0_s + (len(series) - 1) * series.step_s) * 1000)
        floor, ceiling = physical_bounds(metric, values)

        def bounded(x: float) -> float:
            return min(max(x, floor), ceiling)

        rows = [
            {"room_id": room_id, "metric": metric, "issued_ms": issued_ms, "horizon_min": f["horizon_min"],
             "target_ms": int(f["target_s"] * 1000), "value": bounded(f["value"]), "low": bounded(f["low"]),
             "high": bounded(f["high"]), "model_id": model["id"],
             "model_type": "persistence" if loaded.fallback else f["model_type"],
             "if_ventilated": if_ventilated.get(f["horizon_min"])}
            for f in forecasts
        ]  # fmt: skip
        self._store(rows, site, room)
        current = float(series.filled()[-1])
        message = prediction_message(model, site, room, issued_ms, current, loaded.fallback, rows)
        found = crossing(message) if at_s is None else None
        return [message], [found] if found is not None else []

    def backfill_forecasts(
        self, model: dict[str, Any], hours: float = 24, step_min: int = 30, *, since_s: float | None = None
    ) -> int:
        """Forecasts as the room's new model would have made them every `step_min` over the last `hours`,
        stored like live ones, when none were stored for that span: the comparison of forecasts against
        what was measured is there at once after a first training (the demo's back-filled day included),
        not only once live forecasts have come true. Blocking; returns how many forecasts it stored."""
        room_id, metric = model["room_id"], model["metric"]
        now_s = time.time()
        start_ms = int((now_s - hours * 3600) * 1000)
        with self.sessions() as s:
            stored = s.scalar(
                select(func.count())
                .select_from(iaq_forecast)
                .where(
                    iaq_forecast.c.room_id == room_id,
                    iaq_forecast.c.metric == metric,
                    iaq_forecast.c.issued_ms >= start_ms,
                )
            )
        if stored:
            return 0
        made = 0
        step_s = step_min * 60
        at_s = max(now_s - hours * 3600 + step_s, since_s if since_s is not None else 0.0)
        while at_s < now_s - step_s:
            try:
                messages, _ = self._predict_model(model, at_s=at_s)
            except Exception:  # a span without readings, or an artifact that cannot load: nothing to show
                log.debug("no back-filled forecast of model %s at %s", model["id"], at_s, exc_info=True)
                messages = []
            made += sum(len(m["forecasts"]) for m in messages)
            at_s += step_s
        if made:
            log.info("back-filled %d forecasts of %s over the last %g h", made, model["model_name"], hours)
        return made

    def _store(self, rows: list[dict], site: str, room: str) -> None:
        """Forecast rows into `iaq_forecast`; with InfluxDB, as points into the series outbox in the same
        transaction (`app/core/storage/influx_series.py`)."""
        if not rows:
            return
        insert = postgresql.insert if self.sessions.kw["bind"].dialect.name == "postgresql" else sqlite.insert
        stmt = insert(iaq_forecast).on_conflict_do_nothing()
        with self.sessions.begin() as s:
            s.execute(stmt, rows)
            if self.series is not None:
                from app.core.storage.influx_series import forecast_line

                points = [(r["room_id"], forecast_line(r, site, room)) for r in rows]
                self.series.stage(s.connection(), points)
            cutoff = rows[0]["issued_ms"] - KEEP_FORECASTS_MS
            s.execute(
                delete(iaq_forecast).where(
                    iaq_forecast.c.room_id == rows[0]["room_id"], iaq_forecast.c.issued_ms < cutoff
                )
            )

    def _predict_all(self, only: set[tuple[int, str]] | None = None) -> tuple[list[dict], list[dict]]:
        messages, crossings = [], []
        active = self.registry.active_models()
        self._active_ids = {model["id"] for model in active}
        plans = [(model, False) for model in active]
        plans += [(model, True) for model in self.registry.rooms_without_active_model()]
        for model, persistence in plans:
            if only is not None and (model["room_id"], model["metric"]) not in only:
                continue
            try:
                m, c = self._predict_model(model, persistence=persistence)
            except Exception:
                log.exception("forecast of model %s failed", model["id"])
                continue
            messages += m
            crossings += c
        return messages, crossings

    async def predict_all(self, only: set[tuple[int, str]] | None = None) -> list[dict[str, Any]]:
        """Forecast every active model's room metric now (or only those of `only`, (room id, metric));
        publish and return the `prediction` messages."""
        messages, crossings = await asyncio.to_thread(self._predict_all, only)
        for message in messages:
            self.bus.predictions.emit(message)
        for event in crossings:
            self.bus.forecast_crossings.emit(event)
        await self._report_problems()
        return messages

    async def _report_problems(self) -> None:
        """An active model whose artifact cannot be used raises one alert on its room (its room forecasts
        with persistence meanwhile); the alert is resolved once the model loads again or is replaced."""
        if self.alerting is None:
            return
        for model_id, (room_id, name) in list(self._problem_rooms.items()):
            usable = model_id not in self.problems or model_id not in self._active_ids
            alert_id = self._problem_alerts.get(model_id)
            if not usable and alert_id is None:
                alert = await self.alerting.raise_external(
                    room_id, f"Forecast model {name} unusable", "model:forecast", value=None
                )
                if alert is not None:
                    self._problem_alerts[model_id] = alert["id"]
            elif usable:
                del self._problem_rooms[model_id]
                if alert_id is not None:
                    del self._problem_alerts[model_id]
                    await self.alerting.resolve_external(
                        alert_id, "the room's forecasts use a working model again"
                    )

    def on_measurements(self, batch) -> None:
        """A reading within 20 % under a preventive threshold asks for a forecast of its room now rather than
        at the next interval (at most once a minute per room and metric)."""
        now = time.monotonic()
        rooms = {m.room_id for m in batch}
        last = self._last_early
        for metric, (threshold, _, _) in PREVENTIVE_THRESHOLDS.items():
            # only the rooms not asked for within the minute are looked at reading by reading
            waiting = {r for r in rooms if now - last.get((r, metric), -1e9) >= EARLY_FORECAST_EVERY_S}
            if not waiting:
                continue
            low = 0.8 * threshold
            close = {
                m.room_id
                for m in batch
                if m.room_id in waiting and low <= (m.values.get(metric) or -1.0) < threshold
            }
            for room_id in close:
                key = (room_id, metric)
                last[key] = now
                self._due.add(key)
                self._wake.set()

    async def run_predictor(self, interval_s: float) -> None:
        if not self._listening:  # a restarted worker must not subscribe twice
            self.bus.measurements.subscribe(self.on_measurements)
            self._listening = True
        next_full = 0.0
        while True:
            if time.monotonic() >= next_full:
                self._due.clear()
                await self.predict_all()
                next_full = time.monotonic() + interval_s
            elif self._due:
                due, self._due = self._due, set()
                await self.predict_all(only=due)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, next_full - time.monotonic()))

    # -- reading forecasts back -------------------------------------------------------------------------


def prediction_message(
    model: dict[str, Any],
    site: str,
    room: str,
    issued_ms: int,
    current: float,
    fallback: bool,
    rows: list[dict],
) -> dict[str, Any]:
    """The `prediction` message of a room metric's stored forecasts (`bus.predictions`, `/ws`)."""
    return {
        "enseigne": site,
        "salle": room,
        "room_id": model["room_id"],
        "metric": model["metric"],
        "issued_at": iso_ms(issued_ms),
        "current": current,
        "model_id": model["id"],
        "model_version": model["model_version"],
        "fallback": fallback,
        "forecasts": [
            {
                "horizon_min": r["horizon_min"],
                "timestamp": iso_ms(r["target_ms"]),
                "value": round(r["value"], 2),
                "low": round(r["low"], 2),
                "high": round(r["high"], 2),
                "model_type": r["model_type"],
            }
            | ({"if_ventilated": round(r["if_ventilated"], 2)} if r["if_ventilated"] is not None else {})
            for r in rows
        ],
    }
