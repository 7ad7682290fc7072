"""What the forecasting service's parts share: a room's history (one-minute means) and its modules' states,
the room's names and zone, and loading a model (persistence, reported, when its artifact cannot be used)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.bus import EventBus
from app.core.db.models import Room
from app.core.i18n import _

from ..errors import NotFound
from .registry import ArtifactError, ModelRegistry

if TYPE_CHECKING:
    from .training import Bundle

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


class ForecastBase:
    """What the trainer, the predictor and the reads share: a room's history and modules, loaded models."""

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
        from .series import room_ventilation  # numpy: imported when a room is first forecast, not at start

        steps = room_ventilation((module_id, ts_ms / 1000, level) for module_id, ts_ms, level in changes)
        return steps or None

    def _room(self, room_id: int) -> tuple[str, str, str]:
        with self.sessions() as s:
            room = s.get(Room, room_id)
            if room is None:
                raise NotFound(_("no room with id {room_id}").format(room_id=room_id))
            return room.site.name, room.name, room.effective_timezone

    def _rooms(self) -> list[int]:
        with self.sessions() as s:
            return list(s.scalars(select(Room.id).order_by(Room.id)))

    # -- trainer ----------------------------------------------------------------------------------------

    def _load(self, model: dict[str, Any]) -> _Loaded:
        cached = self._loaded.get(model["id"])
        if cached is not None and cached.checksum == model["checksum"]:
            return cached
        try:
            bundle = self.registry.load_artifact(model["model_path"], model["checksum"])
            from .training import Bundle

            if not isinstance(bundle, Bundle):
                raise ArtifactError(
                    _("artifact {model_path} is not a forecasting bundle").format(
                        model_path=model["model_path"]
                    )
                )
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
            from .training import persistence_bundle

            loaded = _Loaded(model["checksum"], persistence_bundle(model["metric"] or "co2"), True)
        self._loaded[model["id"]] = loaded
        return loaded
