"""Trainer, predictor and preventive actions: the forecasting use cases of the running platform.

- Trainer (`train_room`, `train_all`; scheduled every `ML_TRAINER_INTERVAL`): reads a room metric's
  history (one-minute means), fits in a worker process, saves the artifact, registers every run, and
  activates the new version only if it beats persistence and the active version on the backtest.
- Predictor (`predict_all`; every `ML_PREDICTOR_INTERVAL`): loads each active model (again when the registry
  changes), forecasts 5 to 60 minutes ahead with an 80 % interval, stores the forecasts in `iaq_forecast`,
  publishes `prediction` messages on `bus.predictions`, and a `threshold_crossing` on
  `bus.forecast_crossings` for each forecast that crosses a preventive threshold (the event automation
  consumes, see `docs/forecasting.md`).
  A missing or corrupt artifact falls back to persistence and is reported (`problems`), never raised.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from app.core.bus import EventBus
from app.core.db.models import Room, Site
from app.core.domain.timesteps import iso_ms
from app.core.storage.sql_schema import iaq_forecast

from ..errors import NotFound
from ..rooms import room_row
from .preventive import PREVENTIVE_THRESHOLDS, crossing
from .registry import ArtifactError, ModelRegistry
from .series import physical_bounds, room_ventilation
from .training import Bundle, persistence_bundle

log = logging.getLogger(__name__)
HISTORY_FOR_PREDICTION_S = 6 * 3600
BUCKET_MS = 60_000
KEEP_FORECASTS_MS = 7 * 86400 * 1000
EARLY_FORECAST_EVERY_S = 60.0


def model_name(metric: str, site: str, room: str) -> str:
    return f"{metric}_predictor/{site}/{room}"


@dataclass
class _Loaded:
    checksum: str | None
    bundle: Bundle
    fallback: bool


class ForecastService:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        store,
        bus: EventBus,
        registry: ModelRegistry,
        metrics: tuple[str, ...] = ("co2",),
        use_process_pool: bool = True,
        alerting: Any = None,
        module_store: Any = None,
    ):
        self.sessions, self.store, self.bus, self.registry = sessions, store, bus, registry
        # app.storage.modules.SqlModuleStore: the rooms' module state history (ventilation); None: not read
        self.module_store = module_store
        self.series = store.series  # InfluxDB's outbox of `iaq_forecast` points, or None
        self.metrics = metrics
        self.use_process_pool = use_process_pool
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._loaded: dict[int, _Loaded] = {}
        self._train_lock = asyncio.Lock()
        self.problems: dict[int, str] = {}  # model id -> why it forecasts as persistence
        self.alerting = alerting  # services.alerting.AlertingService: an unusable artifact raises an alert
        self._problem_rooms: dict[int, tuple[int, str]] = {}  # model id -> (room id, model name)
        self._problem_alerts: dict[int, int] = {}  # model id -> the alert raised for it
        self._active_ids: set[int] = set()
        self._due: set[tuple[int, str]] = set()  # (room, metric) close to a threshold: forecast again soon
        self._wake = asyncio.Event()
        self._last_early: dict[tuple[int, str], float] = {}
        self._listening = False
        self.training: str | None = None  # what is being trained now, for the Models page

    # -- history ----------------------------------------------------------------------------------------

    def _history(
        self, room_id: int, metric: str, seconds: float, end_s: float | None = None
    ) -> tuple[list[float], list[float]]:
        """One-minute means of the `seconds` before `end_s` (now, and a little after: readings may be stamped
        a little ahead of our clock)."""
        end_ms = int(end_s * 1000) if end_s is not None else int(time.time() * 1000) + 600_000
        buckets = self.store.query_buckets(
            [room_id], end_ms - int(seconds * 1000), end_ms, BUCKET_MS, metrics=[metric]
        )
        times, values = [], []
        for b in buckets:
            stats = b.stats.get(metric)
            if stats:
                times.append(b.ts_ms / 1000)
                values.append(stats[0] / stats[3])
        return times, values

    def _ventilation(self, room_id: int, start_s: float, end_s: float) -> list[tuple[float, float]] | None:
        """The room's ventilation level as (epoch seconds, level 0-1) at each change from `start_s` (its
        state then included) to `end_s`, from its modules' state history; None without such modules."""
        if self.module_store is None:
            return None
        changes = self.module_store.ventilation_changes(room_id, int(start_s * 1000), int(end_s * 1000))
        steps = room_ventilation((module_id, ts_ms / 1000, level) for module_id, ts_ms, level in changes)
        return steps or None

    def _room(self, room_id: int) -> tuple[str, str, str]:
        with self.sessions() as s:
            room = s.get(Room, room_id)
            if room is None:
                raise NotFound(f"no room with id {room_id}")
            return room.site.name, room.name, room.effective_timezone

    def _rooms(self) -> list[int]:
        with self.sessions() as s:
            return list(s.scalars(select(Room.id).order_by(Room.id)))

    # -- trainer ----------------------------------------------------------------------------------------

    async def _run_cpu(self, fn, *args, **kwargs):
        if not self.use_process_pool:
            return await asyncio.to_thread(fn, *args, **kwargs)
        if self._pool is None:
            # spawn: forking a process that runs threads and an event loop is unsafe
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, _call, fn, args, kwargs)
        except concurrent.futures.process.BrokenProcessPool:
            self._pool = None
            raise

    async def train_room(
        self, room_id: int, metric: str = "co2", *, trigger: str = "manual"
    ) -> dict[str, Any]:
        """Train, register and maybe promote one room metric's model; returns the training run."""
        from .training import train

        site, room, tz = await asyncio.to_thread(self._room, room_id)
        name = model_name(metric, site, room)
        async with self._train_lock:
            self.training = name
            run_id = await asyncio.to_thread(self.registry.start_run, name, trigger)
            try:
                times, values = await asyncio.to_thread(self._history, room_id, metric, 14 * 86400)
                ventilation = None
                if times:
                    ventilation = await asyncio.to_thread(self._ventilation, room_id, times[0], times[-1])
                active = await asyncio.to_thread(self.registry.active, name)
                champion = None
                if active:
                    loaded = await asyncio.to_thread(self._load, active)
                    champion = None if loaded.fallback else loaded.bundle
                result = await self._run_cpu(
                    train, times, values, metric=metric, tz=tz, champion=champion, ventilation=ventilation
                )
                version = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + f"-{run_id}"
                path, checksum = await asyncio.to_thread(
                    self.registry.save_artifact, result["bundle"], name, version
                )
                model = await asyncio.to_thread(
                    self.registry.add,
                    name=name,
                    version=version,
                    model_type=result["model_type"],
                    artifact_path=path,
                    checksum=checksum,
                    metric=metric,
                    room_id=room_id,
                    parameters=result["parameters"],
                    metrics=result["metrics"],
                    training_start=datetime.fromtimestamp(result["start_s"], UTC),
                    training_end=datetime.fromtimestamp(result["end_s"], UTC),
                    activate_by=f"trainer ({trigger})" if result["promote"] else None,
                )
                run = await asyncio.to_thread(
                    self.registry.finish_run,
                    run_id,
                    outcome="promoted" if result["promote"] else "kept",
                    data_points=result["data_points"],
                    model_id=model["id"],
                    metrics=result["metrics"],
                )
                if result["promote"]:
                    await asyncio.to_thread(self.backfill_forecasts, model)
                return run
            except Exception as exc:  # a failed training leaves the active model in place
                log.warning("training %s failed: %s", name, exc)
                return await asyncio.to_thread(
                    self.registry.finish_run,
                    run_id,
                    outcome="failed",
                    error=f"{type(exc).__name__}: {exc}"[:1000],
                )
            finally:
                self.training = None

    async def train_all(self, *, trigger: str = "scheduled") -> list[dict[str, Any]]:
        runs = []
        for room_id in await asyncio.to_thread(self._rooms):
            for metric in self.metrics:
                if await asyncio.to_thread(self.store.count, [room_id]):
                    runs.append(await self.train_room(room_id, metric, trigger=trigger))
        return runs

    async def run_trainer(self, interval_s: float, first_delay_s: float = 60.0) -> None:
        await asyncio.sleep(first_delay_s)
        while True:
            await self.train_all(trigger="scheduled")
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # -- predictor --------------------------------------------------------------------------------------

    def _load(self, model: dict[str, Any]) -> _Loaded:
        cached = self._loaded.get(model["id"])
        if cached is not None and cached.checksum == model["checksum"]:
            return cached
        try:
            bundle = self.registry.load_artifact(model["model_path"], model["checksum"])
            if not isinstance(bundle, Bundle):
                raise ArtifactError(f"artifact {model['model_path']} is not a forecasting bundle")
            loaded = _Loaded(model["checksum"], bundle, False)
            self.problems.pop(model["id"], None)
        except ArtifactError as exc:
            log.error(
                "model %s v%s: %s; forecasting with persistence",
                model["model_name"],
                model["model_version"],
                exc,
            )
            self.problems[model["id"]] = str(exc)
            if model["room_id"] is not None:
                self._problem_rooms[model["id"]] = (model["room_id"], model["model_name"])
            loaded = _Loaded(model["checksum"], persistence_bundle(model["metric"] or "co2"), True)
        self._loaded[model["id"]] = loaded
        return loaded

    def _predict_model(
        self, model: dict[str, Any], *, persistence: bool = False, at_s: float | None = None
    ) -> tuple[list[dict], list[dict]]:
        """Forecast a room metric with `model`, or with persistence (labelled so) when the room has only
        candidates that did not beat it. `at_s`: as it would have been forecast then, from the readings
        before it (back-filling the comparison of forecasts against what was measured); no crossing."""
        from .series import to_grid
        from .training import what_if_ventilated, with_ventilation

        if persistence:
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

        rows = []
        for f in forecasts:
            rows.append(
                {
                    "room_id": room_id,
                    "metric": metric,
                    "issued_ms": issued_ms,
                    "horizon_min": f["horizon_min"],
                    "target_ms": int(f["target_s"] * 1000),
                    "value": bounded(f["value"]),
                    "low": bounded(f["low"]),
                    "high": bounded(f["high"]),
                    "model_id": model["id"],
                    "model_type": "persistence" if loaded.fallback else f["model_type"],
                    "if_ventilated": if_ventilated.get(f["horizon_min"]),
                }
            )
        self._store(rows, site, room)
        message = {
            "enseigne": site,
            "salle": room,
            "room_id": room_id,
            "metric": metric,
            "issued_at": iso_ms(issued_ms),
            "current": float(series.filled()[-1]),
            "model_id": model["id"],
            "model_version": model["model_version"],
            "fallback": loaded.fallback,
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
        crossings = []
        found = crossing(message) if at_s is None else None
        if found is not None:
            crossings.append(found)
        return [message], crossings

    def backfill_forecasts(self, model: dict[str, Any], hours: float = 24, step_min: int = 30) -> int:
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
        at_s = now_s - hours * 3600 + step_s
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
        for metric, (threshold, _, _) in PREVENTIVE_THRESHOLDS.items():
            low = 0.8 * threshold
            close = {m.room_id for m in batch if low <= (m.values.get(metric) or -1.0) < threshold}
            for room_id in close:
                key = (room_id, metric)
                if now - self._last_early.get(key, -1e9) >= EARLY_FORECAST_EVERY_S:
                    self._last_early[key] = now
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

    def _latest(self, room_id: int, metric: str) -> list[dict[str, Any]]:
        with self.sessions() as s:
            newest = s.scalar(
                select(iaq_forecast.c.issued_ms)
                .where(iaq_forecast.c.room_id == room_id, iaq_forecast.c.metric == metric)
                .order_by(iaq_forecast.c.issued_ms.desc())
                .limit(1)
            )
            if newest is None:
                return []
            rows = s.execute(
                select(iaq_forecast)
                .where(
                    iaq_forecast.c.room_id == room_id,
                    iaq_forecast.c.metric == metric,
                    iaq_forecast.c.issued_ms == newest,
                )
                .order_by(iaq_forecast.c.horizon_min)
            ).mappings()
            return [
                {
                    "horizon_min": r["horizon_min"],
                    "issued_at": iso_ms(r["issued_ms"]),
                    "timestamp": iso_ms(r["target_ms"]),
                    "target_ms": r["target_ms"],
                    "value": r["value"],
                    "low": r["low"],
                    "high": r["high"],
                    "model_type": r["model_type"],
                    "model_id": r["model_id"],
                }
                | ({"if_ventilated": r["if_ventilated"]} if r["if_ventilated"] is not None else {})
                for r in rows
            ]

    async def latest(self, room_id: int, metric: str = "co2") -> list[dict[str, Any]]:
        """The newest stored forecasts of a room metric, one per horizon."""
        return await asyncio.to_thread(self._latest, room_id, metric)

    def backtest_points(
        self, room_id: int, metric: str = "co2", horizon_min: int = 30, hours: float = 24
    ) -> list[tuple[int, float, float, float]]:
        """(time, measured, forecast made `horizon_min` earlier, persistence = measured `horizon_min`
        earlier) for the stored forecasts of the last `hours`, on one-minute means."""
        end_ms = int(time.time() * 1000) + 600_000
        start_ms = end_ms - int(hours * 3600_000) - horizon_min * 60_000
        measured = {
            b.ts_ms: b.stats[metric][0] / b.stats[metric][3]
            for b in self.store.query_buckets([room_id], start_ms, end_ms, BUCKET_MS, metrics=[metric])
            if metric in b.stats
        }
        with self.sessions() as s:
            rows = s.execute(
                select(iaq_forecast.c.target_ms, iaq_forecast.c.value)
                .where(
                    iaq_forecast.c.room_id == room_id,
                    iaq_forecast.c.metric == metric,
                    iaq_forecast.c.horizon_min == horizon_min,
                    iaq_forecast.c.target_ms >= start_ms,
                )
                .order_by(iaq_forecast.c.target_ms)
            ).all()
        out = []
        for target_ms, value in rows:
            bucket = target_ms - target_ms % BUCKET_MS
            before = bucket - horizon_min * 60_000
            if bucket in measured and before in measured:
                out.append((bucket, measured[bucket], value, measured[before]))
        return out

    def _room_id(self, site: str, room: str) -> int:
        with self.sessions() as s:
            return room_row(s, site, room, Room.id, Site.id)[0]

    async def forecast_for(self, site: str, room: str, metric: str = "co2") -> dict[str, Any]:
        room_id = await asyncio.to_thread(self._room_id, site, room)
        return {
            "enseigne": site,
            "salle": room,
            "metric": metric,
            "forecasts": await self.latest(room_id, metric),
        }

    async def preventive_actions(self, site: str, room: str) -> dict[str, Any]:
        """`GET /api/predict/preventive-actions`: actions because a stored forecast crosses a threshold."""
        room_id = await asyncio.to_thread(self._room_id, site, room)
        actions = []
        for metric in PREVENTIVE_THRESHOLDS:
            forecasts = await self.latest(room_id, metric)
            if not forecasts:
                continue
            current = await asyncio.to_thread(self._current, room_id, metric)
            message = {
                "enseigne": site,
                "salle": room,
                "room_id": room_id,
                "metric": metric,
                "current": current,
            }
            message["forecasts"] = forecasts
            found = crossing(message)
            if found is not None:
                actions.append(found["action"])
        return {"enseigne": site, "salle": room, "actions": actions}

    def _current(self, room_id: int, metric: str) -> float | None:
        for latest in self.store.latest([room_id]):
            if latest.metric == metric:
                return latest.value
        return None


def _call(fn, args, kwargs):
    return fn(*args, **kwargs)
