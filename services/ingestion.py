"""Ingestion: validate readings, make them durable with group commit, then publish them.

A request's readings are acknowledged only after the transaction holding them has committed.
One writer thread commits for everybody: while it commits, new requests queue up and the next
commit takes them all at once (group commit), so many concurrent sensors cost few disk syncs.
A rejected request changes nothing: its readings are checked completely before anything is written,
and a failing transaction rolls back every request of its group, which all get an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from app.core.bus import EventBus, Measurement
from app.core.domain.readings import (
    EARLIEST_MS,
    FieldError,
    InvalidInput,
    ReadingDraft,
    check_time,
    localise,
    parse_plain_reading,
    parse_reading,
)
from app.core.domain.timesteps import to_ms
from app.core.domain.wire import decode_readings
from app.core.i18n import _
from app.core.observability import PlatformMetrics
from app.core.settings import Settings
from app.core.storage.base import StoreBusy, StoredReading, TimeSeriesStore

from .ingest_outcomes import BatchTooLarge, IngestOutcome, IngestUnavailable, SiteRefused
from .registry_index import RegistryIndex, RoomInfo

__all__ = ["BatchTooLarge", "IngestOutcome", "IngestUnavailable", "IngestionService", "SiteRefused"]
log = logging.getLogger(__name__)
MAX_GROUP_READINGS = 20_000


@dataclass(slots=True)
class _Pending:
    drafts: list[ReadingDraft]
    batch: bool
    source: str
    future: asyncio.Future
    site: str | None = None  # the device key's site: every reading must land in a room of it


class IngestionService:
    """Validates, stores and publishes readings. `start()` it before use, `stop()` it to drain."""

    def __init__(
        self,
        *,
        engine: Engine,
        store: TimeSeriesStore,
        bus: EventBus,
        settings: Settings,
        metrics: PlatformMetrics,
        index: RegistryIndex,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.engine, self.store, self.bus, self.settings = engine, store, bus, settings
        self.metrics, self.index, self.clock = metrics, index, clock
        self._by_source: dict[str, tuple] = {}
        self._queue: asyncio.Queue[_Pending] | None = None
        self._writer: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.state = "stopped"
        self.last_error: str | None = None

    # -- life cycle
    def start(self) -> None:
        """Start the writer; call from within the running event loop."""
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iaq-writer")
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="iaq-ingest-writer")
        self.state = "running"

    async def stop(self) -> None:
        """Stop accepting readings, commit what is queued, then stop the writer."""
        if self._writer is None:
            return
        self.state = "stopping"
        assert self._queue is not None
        try:
            await asyncio.wait_for(self._queue.join(), timeout=30)
        except TimeoutError:  # a stuck writer must not hang the shutdown
            log.error("ingestion writer did not drain within 30 s; %d requests refused", self._queue.qsize())
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        while not self._queue.empty():  # nothing of these was stored: say so rather than leave them waiting
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(IngestUnavailable("the platform stopped before storing these"))
        self._writer = None
        if self._executor:
            self._executor.shutdown(wait=True)
        self.state = "stopped"

    # -- the public entry points
    def parse(
        self, body: Any, *, legacy: bool = False, source: str = "api"
    ) -> tuple[list[ReadingDraft], bool]:
        """Validate a request body (one reading or a list). Returns the drafts and whether it was a list."""
        factor = self.settings.tvoc_ugm3_per_ppb
        if isinstance(body, list):
            if not body:
                raise InvalidInput([FieldError("body", _("is an empty list; send at least one reading"))])
            limit = self.settings.max_batch_readings
            if len(body) > limit:
                raise BatchTooLarge(
                    f"{len(body)} readings in one request exceed the limit of {limit}; "
                    "split them into several requests"
                )
            drafts, errors = [], []
            for i, item in enumerate(body):
                draft = parse_plain_reading(item, legacy)  # the common case; the full check otherwise
                if draft is None:
                    try:
                        draft = parse_reading(item, legacy=legacy, prefix=f"[{i}].", tvoc_ugm3_per_ppb=factor)
                    except InvalidInput as exc:
                        errors.extend(exc.errors)
                        continue
                drafts.append(draft)
            if errors:
                self.metrics.readings_rejected.labels(source, "invalid").inc(len(body))
                raise InvalidInput(errors)
            return drafts, True
        try:
            return [parse_reading(body, legacy=legacy, tvoc_ugm3_per_ppb=factor)], False
        except InvalidInput:
            self.metrics.readings_rejected.labels(source, "invalid").inc()
            raise

    def parse_encoded(
        self, raw: bytes, loads: Callable[[bytes], Any], *, legacy: bool = False, source: str = "api"
    ) -> tuple[list[ReadingDraft], bool]:
        """As `parse`, from the body's bytes: a body of the common shape is decoded and checked in one
        compiled pass (app/core/domain/wire.py); any other goes through `loads` (the caller's JSON reader,
        with its error messages) and `parse`, which accepts it or names every faulty field."""
        if not legacy:
            fast = decode_readings(raw)
            if fast is not None and len(fast[0]) <= self.settings.max_batch_readings:
                return fast
        return self.parse(loads(raw), legacy=legacy, source=source)

    async def submit(
        self, drafts: list[ReadingDraft], *, batch: bool = False, source: str = "api", site: str | None = None
    ) -> IngestOutcome:
        """Store validated readings; returns once committed. With `site` (a device key's), every reading
        must be stored in a room of that site, wherever its body says it is (the registry's assignment of a
        sensor wins). Raises InvalidInput, SiteRefused or IngestUnavailable."""
        if self.state != "running" or self._queue is None:
            raise IngestUnavailable("the platform is not accepting readings right now (starting or stopping)")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(drafts, batch, source, future, site))  # unbounded: never waits
        return await future

    async def ingest(
        self, body: Any, *, legacy: bool = False, source: str = "api", site: str | None = None
    ) -> IngestOutcome:
        """Parse, validate and store a body (one reading or a list); `site` as for `submit`."""
        drafts, batch = self.parse(body, legacy=legacy, source=source)
        return await self.submit(drafts, batch=batch, source=source, site=site)

    # -- the writer
    def _counters(self, source: str):
        """The accepted and duplicate counters of a source (labels() is looked up once, not per request)."""
        pair = self._by_source.get(source)
        if pair is None:
            pair = self._by_source[source] = (
                self.metrics.readings_accepted.labels(source),
                self.metrics.readings_duplicate.labels(source),
            )
        return pair

    async def _write_loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            group = [await self._queue.get()]
            size = len(group[0].drafts)
            while size < MAX_GROUP_READINGS and not self._queue.empty():
                group.append(self._queue.get_nowait())
                size += len(group[-1].drafts)
            try:
                started = time.perf_counter()
                outcomes, published = await loop.run_in_executor(self._executor, self._commit_group, group)
                self.metrics.commit_seconds.observe(time.perf_counter() - started)
                self.metrics.commit_batch.observe(size)
                self.last_error = None
            except StoreBusy as exc:  # e.g. the outbox at its bound: refused, said why, not a failure
                log.warning("group commit of %d readings refused: %s", size, exc)
                outcomes = [IngestUnavailable(str(exc))] * len(group)
                published = []
            except Exception as exc:  # storage failure: nobody in the group is acknowledged
                log.exception("group commit of %d readings failed", size)
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                outcomes = [IngestUnavailable("the readings could not be stored; retry later")] * len(group)
                published = []
            tally: dict[str, list[int]] = {}  # source -> stored, duplicates: counters move once a group
            for pending, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    reason = (
                        "invalid"
                        if isinstance(outcome, InvalidInput)
                        else "refused"
                        if isinstance(outcome, SiteRefused)
                        else "unavailable"
                    )
                    self.metrics.readings_rejected.labels(pending.source, reason).inc(len(pending.drafts))
                    if not pending.future.done():
                        pending.future.set_exception(outcome)
                else:
                    counts = tally.get(pending.source)
                    if counts is None:
                        counts = tally[pending.source] = [0, 0]
                    counts[0] += outcome.stored
                    counts[1] += len(outcome.duplicates)
                    if not pending.future.done():
                        pending.future.set_result(outcome)
                self._queue.task_done()
            for source, (stored, duplicates) in tally.items():
                accepted, duplicate = self._counters(source)
                accepted.inc(stored)
                if duplicates:
                    duplicate.inc(duplicates)
            if self.index.registered:  # readings registered new sites, rooms or sensors
                self.index.registered = False
                self.bus.config_changed.emit()
            if published:
                self.bus.measurements.emit(published)

    def _commit_group(
        self, group: list[_Pending]
    ) -> tuple[list[IngestOutcome | Exception], list[Measurement]]:
        try:
            return self._commit_once(group)
        except Exception as exc:
            self.index.mark_stale()  # ids registered in the rolled-back transaction are gone
            if not isinstance(exc, IntegrityError):
                raise
        # another instance registered the same site, room or sensor first: reload and try once more
        return self._commit_once(group)

    def _commit_once(
        self, group: list[_Pending]
    ) -> tuple[list[IngestOutcome | Exception], list[Measurement]]:
        now = self.clock()
        outcomes: list[IngestOutcome | Exception] = []
        published: list[Measurement] = []
        seen: set[tuple[int, int]] = set()
        with self.engine.begin() as conn:
            self.index.ensure_fresh(conn)
            plans: list[list[list] | InvalidInput | SiteRefused] = []
            for pending in group:
                try:
                    plans.append(self._check(pending, now))
                except (InvalidInput, SiteRefused) as exc:
                    plans.append(exc)
            keys = []  # every checked reading's (sensor, time), registering what is new on the way
            bound: dict[tuple, tuple[int, RoomInfo]] = {}  # a new sensor's readings are bound once
            for pending, plan in zip(group, plans, strict=True):
                if isinstance(plan, Exception):
                    continue
                for entry in plan:
                    if entry[1] is None:
                        draft = pending.drafts[entry[0]]
                        target = entry[2]
                        key = (draft.sensor_id, target.id if isinstance(target, RoomInfo) else target)
                        pair = bound.get(key)
                        if pair is None:
                            pair = bound[key] = self._bind(conn, draft, target)
                        entry[1], entry[2] = pair
                    keys.append((entry[1], entry[3]))
            existing = self.store.existing_keys(conn, keys)  # one query for the whole group
            to_store: list[StoredReading] = []
            new = tuple.__new__
            for pending, plan in zip(group, plans, strict=True):
                if isinstance(plan, Exception):
                    outcomes.append(plan)
                    continue
                duplicates = []
                drafts = pending.drafts
                for i, sensor_pk, room, ts_ms in plan:
                    key = (sensor_pk, ts_ms)
                    if key in existing or key in seen:
                        duplicates.append(i)
                        continue
                    seen.add(key)
                    draft = drafts[i]
                    values = draft.values
                    # tuple.__new__: the named tuples' own constructors are Python functions, called
                    # twice for every reading
                    to_store.append(new(StoredReading, (sensor_pk, room.id, ts_ms, values)))
                    published.append(
                        new(Measurement, (draft.sensor_id, room.site.name, room.name, room.id, ts_ms, values))
                    )
                first = plan[0][3] if plan else None
                outcomes.append(IngestOutcome(len(drafts), len(plan) - len(duplicates), duplicates, first))
            self.store.stage(conn, to_store)
        return outcomes, published

    def _check(self, pending: _Pending, now: datetime) -> list[list]:
        """All that can reject a reading, before anything is written.

        Returns [position, sensor_pk, room, ts_ms] per reading; sensor_pk is None (and room the names to
        register) for a sensor that is new or not assigned yet. The common case, a known sensor in its
        room, costs a few dictionary look-ups.
        """
        errors: list[FieldError] = []
        plan = []
        key_site = pending.site
        auto = self.settings.auto_register
        sensors, rooms_by_id = self.index.sensors, self.index.rooms_by_id
        now_ms = to_ms(now)
        latest_ms = now_ms + int(self.settings.max_future_s * 1000)
        for i, draft in enumerate(pending.drafts):
            sensor = sensors.get(draft.sensor_id)
            room = rooms_by_id.get(sensor.room_id) if sensor is not None else None
            if room is not None:  # the registry's assignment wins over the payload's names
                if key_site is not None and room.site.name != key_site:
                    raise SiteRefused.of(i if pending.batch else None, pending.drafts[i].sensor_id, key_site)
                sensor_pk, target, zone = sensor.pk, room, room.zone
            else:
                if key_site is not None and draft.site is not None and draft.site != key_site:
                    raise SiteRefused.of(i if pending.batch else None, pending.drafts[i].sensor_id, key_site)
                prefix = f"[{i}]." if pending.batch else ""
                problem = self._placement_problem(draft, sensor, auto, prefix)
                if problem:
                    errors.append(problem)
                    continue
                site = self.index.sites.get(draft.site)
                room = self.index.rooms.get((site.id, draft.room)) if site else None
                sensor_pk, target = None, room or (draft.site, draft.room)
                zone = room.zone if room else (site.zone if site else self.index.default_zone)
            ts = draft.ts
            if ts is None:
                ts_ms = now_ms
            else:
                if type(ts) is float:  # seconds since 1970 UTC
                    ts_ms = round(ts * 1000)
                else:
                    ts_ms = round((ts if ts.tzinfo else ts.replace(tzinfo=zone)).timestamp() * 1000)  # to_ms
                if not EARLIEST_MS <= ts_ms <= latest_ms:
                    prefix = f"[{i}]." if pending.batch else ""
                    where = prefix + "timestamp"
                    aware = datetime.fromtimestamp(ts, UTC) if type(ts) is float else localise(ts, zone)
                    problem = check_time(aware, now, self.settings.max_future_s, where)
                    if problem:  # (None only for a rounding tie at the limit: then the reading is fine)
                        errors.append(problem)
                        continue
            plan.append([i, sensor_pk, target, ts_ms])
        if errors:
            raise InvalidInput(errors)
        return plan

    def _placement_problem(self, draft: ReadingDraft, sensor, auto: bool, prefix: str) -> FieldError | None:
        """Why a reading of a sensor without a room cannot be placed, or None."""
        if not draft.site or not draft.room:
            missing = "enseigne" if not draft.site else "salle"
            return FieldError(
                prefix + missing, _("is required for a sensor that is not assigned to a room yet")
            )
        if auto:
            return None
        if sensor is None:
            return FieldError(
                prefix + "sensor_id",
                _(
                    "unknown sensor {sensor_id!r}; register it in Settings (automatic registration is off)"
                ).format(sensor_id=draft.sensor_id),
            )
        site = self.index.sites.get(draft.site)
        if site is None:
            return FieldError(
                prefix + "enseigne",
                _("unknown site {site!r}; create it in Settings (automatic registration is off)").format(
                    site=draft.site
                ),
            )
        if (site.id, draft.room) not in self.index.rooms:
            return FieldError(
                prefix + "salle",
                _(
                    "unknown room {room!r} of {site!r}; create it in Settings (automatic registration is off)"
                ).format(room=draft.room, site=draft.site),
            )
        return None

    def _bind(self, conn, draft: ReadingDraft, target: tuple[str, str] | RoomInfo) -> tuple[int, RoomInfo]:
        """Registry rows for a checked reading, registering what is new. Returns (sensor_pk, room)."""
        if isinstance(target, RoomInfo):
            room = target
        else:
            site_name, room_name = target
            site = self.index.sites.get(site_name) or self.index.add_site(conn, site_name)
            room = self.index.rooms.get((site.id, room_name)) or self.index.add_room(conn, site, room_name)
        sensor = self.index.sensors.get(draft.sensor_id)
        if sensor is None:
            sensor = self.index.add_sensor(conn, draft.sensor_id, room)
        elif sensor.room_id is None or sensor.room_id not in self.index.rooms_by_id:
            self.index.assign_sensor(conn, sensor, room)
        return sensor.pk, room
