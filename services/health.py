"""How the platform is doing, for `/health`, `/health/ready`, `/metrics` and the pages' storage notices: the
database, the ingestion writer, the time-series store, the device link, the workers and the disk."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine, text

from app.core.bus import EventBus
from app.core.observability import PlatformMetrics
from app.core.storage.base import TimeSeriesStore
from app.core.storage.outbox import OutboxDrainer
from app.core.workers import Worker

from .devices import DeviceLink
from .ingestion import IngestionService
from .rollups import RollupService


class HealthService:
    def __init__(
        self,
        *,
        engine: Engine,
        store: TimeSeriesStore,
        ingestion: IngestionService,
        devices: DeviceLink,
        rollups: RollupService,
        drainer: OutboxDrainer | None,
        workers: dict[str, Worker],
        metrics: PlatformMetrics,
        bus: EventBus,
    ):
        self.engine, self.store, self.ingestion, self.devices = engine, store, ingestion, devices
        self.rollups, self.drainer, self.workers, self.metrics, self.bus = (
            rollups,
            drainer,
            workers,
            metrics,
            bus,
        )

    async def check(self) -> dict[str, Any]:
        """Status of the database, the ingestion writer and each worker; `ok` is False when degraded."""
        checks: dict[str, dict] = {}
        try:
            await asyncio.wait_for(asyncio.to_thread(self._ping_db), timeout=5)
            checks["database"] = {"status": "ok"}
        except Exception as exc:
            checks["database"] = {"status": "down", "error": type(exc).__name__}
        if self.store.backend != "sql":
            checks["storage"] = self.storage()
        ingest_ok = self.ingestion.state == "running" and self.ingestion.last_error is None
        checks["ingestion"] = {"status": "ok" if ingest_ok else "degraded", "state": self.ingestion.state}
        link = self.devices.status()
        if link is not None:
            checks["mqtt"] = link
        for name, worker in self.workers.items():
            checks[f"worker:{name}"] = {
                "status": "ok" if worker.healthy else "degraded",
                "state": worker.state,
                "restarts": worker.restarts,
            }
            self.metrics.worker_up.labels(name).set(1 if worker.healthy else 0)
        if self.rollups.disk["status"] != "ok":
            checks["disk"] = self.rollups.disk  # a warning: reported, the platform still serves
        ok = all(c["status"] in ("ok", "warning") for c in checks.values())
        return {"status": "ok" if ok else "degraded", "checks": checks}

    def storage(self) -> dict[str, Any]:
        """The time-series store's state; with InfluxDB: reachable or not, readings waiting in the outbox."""
        store, disk = self.store, self.rollups.disk
        if store.backend != "influxdb":
            return disk if disk["status"] != "ok" else {"status": "ok", "backend": "sql"}
        waiting = store.waiting
        degraded = not store.reachable or (waiting > 0 and self.drainer is None)
        out: dict[str, Any] = {
            "status": "degraded" if degraded else "ok",
            "backend": "influxdb",
            "waiting": waiting,
        }
        if degraded:
            out["message"] = f"storage degraded, {waiting} readings waiting"
            out["series_waiting"] = store.series.waiting  # scores, forecasts, actions
            if store.last_error:
                out["error"] = store.last_error
        elif disk["status"] != "ok":
            out.update(status=disk["status"], message=disk["message"])
        return out

    async def watch_storage(self, interval_s: float = 2.0) -> None:
        """Publish the store's status on `bus.storage` when it changes (the dashboard's banner follows it)."""
        last = self.storage()
        while True:
            await asyncio.sleep(interval_s)
            current = self.storage()
            if current != last:
                last = current
                self.bus.storage.emit(current)

    def _ping_db(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
