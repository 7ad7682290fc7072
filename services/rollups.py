"""Rollups, retention and the disk guard, for every time-series store.

Every committed reading marks its room's 5-minute and hourly buckets dirty (from the bus); a worker
recomputes dirty buckets from the raw readings every `IAQ_ROLLUP_INTERVAL` and stores them (mean through sum
and count, min, max) in the `rollups` table. Raw readings are deleted after `IAQ_RAW_RETENTION_DAYS`, rollups
after `IAQ_ROLLUP_RETENTION_DAYS`.

Aggregated reads go through `RollupReader`, which answers from the coarsest rollup whose step divides the
asked step, and from raw readings only for what rollups cannot hold exactly: the partial buckets at the edges
of the range, the time since the last rollup run, buckets dirtied since then, a sensor filter, other metrics.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.bus import EventBus
from app.core.domain.buckets import merge_stats
from app.core.domain.metrics import CORE_METRICS
from app.core.storage.base import Bucket, TimeSeriesStore
from app.core.storage.rollups import SqlRollupStore

log = logging.getLogger(__name__)

STEPS_S = (3600, 300)  # coarsest first
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _floor(ts: int, step: int) -> int:
    return ts - ts % step


def _ceil(ts: int, step: int) -> int:
    return -(-ts // step) * step


class RollupService:
    def __init__(
        self,
        *,
        store: TimeSeriesStore,
        rollups: SqlRollupStore,
        raw_retention_days: float,
        rollup_retention_days: float,
        interval_s: float,
        data_dir: Path,
        disk_warn_percent: float,
        bus: EventBus | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.store, self.rollups, self.interval_s, self.clock = store, rollups, interval_s, clock
        self.bus = bus
        self.raw_retention_ms = int(raw_retention_days * DAY_MS)
        self.rollup_retention_ms = int(rollup_retention_days * DAY_MS)
        self.data_dir, self.disk_warn_percent = data_dir, disk_warn_percent
        self._dirty: dict[int, tuple[int, int]] = {}  # room -> (earliest, latest) reading time not rolled up
        self._lock = threading.Lock()
        self.covered_until_ms: int | None = None  # readings committed before this time are in the rollups
        self.last_run: dict[str, Any] = {}
        self.disk: dict[str, Any] = {"status": "ok"}

    def start(self) -> None:
        """Look at the disk, and follow what is committed (rooms with new readings need rolling up)."""
        self.check_disk()
        if self.bus is not None:
            self.bus.measurements.subscribe(self.on_measurements)

    # -- marking
    def on_measurements(self, measurements) -> None:
        with self._lock:
            for m in measurements:
                old = self._dirty.get(m.room_id)
                self._dirty[m.room_id] = (
                    (m.ts_ms, m.ts_ms)
                    if old is None
                    else (
                        min(old[0], m.ts_ms),
                        max(old[1], m.ts_ms),
                    )
                )

    def raw_cutoff_ms(self, now_ms: int | None = None) -> int:
        """Raw readings before this time are (or will soon be) deleted; 0 when they are kept forever."""
        if not self.raw_retention_ms:
            return 0
        now_ms = now_ms if now_ms is not None else int(self.clock() * 1000)
        return _ceil(now_ms - self.raw_retention_ms, HOUR_MS)

    # -- the worker
    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.run_once)
            await asyncio.sleep(self.interval_s)

    def run_once(self) -> dict[str, Any]:
        """Roll up what is dirty (everything since the newest rollup on the first run), apply retention,
        look at the free disk space."""
        started = time.perf_counter()
        now_ms = int(self.clock() * 1000)
        cutoff = self.raw_cutoff_ms(now_ms)
        with self._lock:
            dirty, self._dirty = self._dirty, {}
        try:
            if self.covered_until_ms is None:
                self._first_run(now_ms, cutoff)
            for room_id, (lo, hi) in dirty.items():
                lo = max(lo, cutoff)  # older readings are past retention: their buckets are not recomputed
                if lo <= hi:
                    self._recompute([room_id], lo, hi + 1)
        except Exception:
            with self._lock:  # try these again next time
                for room_id, (lo, hi) in dirty.items():
                    old = self._dirty.get(room_id, (lo, hi))
                    self._dirty[room_id] = (min(lo, old[0]), max(hi, old[1]))
            raise
        self.covered_until_ms = now_ms
        deleted, retention_error = 0, None
        if cutoff:
            try:
                deleted = self.store.delete_before(cutoff)
            except Exception as exc:  # InfluxDB away, or 2.x refusing DELETE over the v1 API
                retention_error = f"{type(exc).__name__}: {exc}"[:300]
                if getattr(exc, "unreachable", False):
                    log.warning("raw readings past their retention not deleted: the store cannot be reached "
                                "(%s); the next pass tries again", retention_error)  # fmt: skip
                else:
                    log.warning(
                        "raw readings past their retention could not be deleted (%s); if the database "
                        "refuses deletes, set its own retention instead", retention_error,
                    )  # fmt: skip
        if self.rollup_retention_ms:
            self.rollups.delete_before(now_ms - self.rollup_retention_ms)
        self.check_disk()
        self.last_run = {
            "rooms": len(dirty),
            "raw_deleted": deleted,
            "raw_retention_error": retention_error,
            "seconds": round(time.perf_counter() - started, 3),
        }
        return self.last_run

    def _first_run(self, now_ms: int, cutoff: int) -> None:
        """After a start: recompute each room from its newest rollup (an hour back, for readings that came
        late), or, for a room without rollups (a platform upgraded to rollups, a store just migrated), from
        its first reading, however old: raw readings are deleted only once rolled up."""
        rooms = sorted({v.room_id for v in self.store.latest()})
        for room_id in rooms:
            newest = self.rollups.newest_ms(3600, room_id)
            if newest is not None:
                lo = max(newest - HOUR_MS, cutoff)
            else:
                first = self.store.query_raw([room_id], 0, now_ms + DAY_MS, sensor_pks=None, limit=1)
                if not first:
                    continue
                lo = first[0].ts_ms
            self._recompute([room_id], lo, now_ms + 1)

    def _recompute(self, room_ids: list[int], lo_ms: int, hi_ms: int) -> None:
        """Rollups of [lo, hi) widened to whole hours, from raw readings, a day at a time."""
        start, end = _floor(lo_ms, HOUR_MS), _ceil(hi_ms, HOUR_MS)
        for chunk in range(start, end, DAY_MS):
            chunk_end = min(chunk + DAY_MS, end)
            for step_s in STEPS_S:
                buckets = self.store.query_buckets(
                    room_ids, chunk, chunk_end, step_s * 1000, sensor_pks=None, metrics=list(CORE_METRICS)
                )
                for room_id in room_ids:
                    mine = [b for b in buckets if b.room_id == room_id]
                    self.rollups.replace(step_s, room_id, chunk, chunk_end, mine)

    # -- the disk guard
    def check_disk(self) -> dict[str, Any]:
        """Warns (log, /health, dashboard) when the data folder's disk has less than the set share free."""
        try:
            usage = shutil.disk_usage(self.data_dir)
        except OSError as exc:
            self.disk = {"status": "ok", "error": str(exc)}
            return self.disk
        free_percent = 100 * usage.free / usage.total if usage.total else 100.0
        self.disk = {"status": "ok", "free_percent": round(free_percent, 1), "free_bytes": usage.free}
        if free_percent < self.disk_warn_percent:
            gb = usage.free / 1e9
            message = f"disk nearly full: {free_percent:.1f}% free ({gb:.1f} GB) where the data is kept"
            log.warning("%s; lower IAQ_RAW_RETENTION_DAYS or free space", message)
            self.disk.update(status="warning", message=message)
        return self.disk

    # -- reads
    def rollup_step_ms(self, step_ms: int, sensor_pks, metrics: list[str]) -> int | None:
        if sensor_pks is not None or any(m not in CORE_METRICS for m in metrics):
            return None
        for step_s in STEPS_S:
            if step_ms % (step_s * 1000) == 0:
                return step_s * 1000
        return None

    def earliest_dirty(self, room_ids: list[int]) -> int | None:
        with self._lock:
            times = [self._dirty[r][0] for r in room_ids if r in self._dirty]
        return min(times) if times else None


class RollupReader:
    """The time-series port for readers: aggregates from rollups where they answer exactly, the rest from the
    store. Everything else goes to the store unchanged."""

    def __init__(self, store: TimeSeriesStore, service: RollupService):
        self._store, self._service = store, service

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def query_buckets(
        self,
        room_ids: list[int],
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        sensor_pks: list[int] | None = None,
        metrics: list[str] | None = None,
    ) -> list[Bucket]:
        metrics = list(metrics or CORE_METRICS)
        service = self._service
        r_ms = service.rollup_step_ms(step_ms, sensor_pks, metrics)
        covered = service.covered_until_ms
        if covered is None:  # before the first run, rollups are complete only where raw readings are gone
            covered = service.raw_cutoff_ms()
        if r_ms is not None:
            dirty = service.earliest_dirty(room_ids)
            if dirty is not None:
                covered = min(covered, dirty)
        raw = self._store.query_buckets
        if r_ms is None or not room_ids:
            return raw(room_ids, start_ms, end_ms, step_ms, sensor_pks=sensor_pks, metrics=metrics)
        lo, hi = _ceil(start_ms, r_ms), _floor(min(end_ms, covered), r_ms)
        if lo >= hi:
            return raw(room_ids, start_ms, end_ms, step_ms, sensor_pks=sensor_pks, metrics=metrics)
        merged: dict[tuple[int, int], Bucket] = {}

        def add(buckets: list[Bucket]) -> None:
            for b in buckets:
                key = (b.room_id, _floor(b.ts_ms, step_ms))
                target = merged.setdefault(key, Bucket(*key))
                merge_stats(target.stats, b.stats)

        add(service.rollups.read(r_ms // 1000, room_ids, lo, hi, metrics))
        if start_ms < lo:
            add(raw(room_ids, start_ms, lo, step_ms, sensor_pks=None, metrics=metrics))
        if hi < end_ms:
            add(raw(room_ids, hi, end_ms, step_ms, sensor_pks=None, metrics=metrics))
        return sorted((b for b in merged.values() if b.stats), key=lambda b: (b.room_id, b.ts_ms))
