"""Reading the time series back: raw readings and aggregates, typed, for the API (which writes them in the
contract's shape) and the pages (which draw them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.db.models import Room, Sensor, Site
from app.core.domain.buckets import local_day_start_ms, merge_stats
from app.core.domain.readings import FieldError
from app.core.domain.timesteps import MAX_POINTS, format_step, to_ms
from app.core.i18n import _
from app.core.storage.base import Bucket, TimeSeriesStore

from .scope import Selection

FINE_STEP_MS = 15 * 60 * 1000  # day buckets are merged from these, so that local midnights are honoured


@dataclass(frozen=True, slots=True)
class RoomRef:
    id: int
    name: str
    site: str
    zone: ZoneInfo


@dataclass(frozen=True, slots=True)
class Scope:
    rooms: list[RoomRef]
    sensor_pks: list[int] | None
    sensor_names: dict[int, str]


# -- what the service answers
@dataclass(frozen=True, slots=True)
class Stats:
    """One metric over one step: sums merge into coarser steps, means would not."""

    total: float
    low: float
    high: float
    count: int

    @property
    def mean(self) -> float:
        return self.total / self.count


@dataclass(frozen=True, slots=True)
class RawPoint:
    ts_ms: int
    site: str
    room: str
    room_id: int
    sensor_id: str | None
    values: dict[str, float]


@dataclass(frozen=True, slots=True)
class AggregatePoint:
    ts_ms: int  # the step's start
    site: str
    room: str
    room_id: int
    stats: dict[str, Stats]


@dataclass(frozen=True, slots=True)
class Series:
    """Readings of the selected rooms over [start_ms, end_ms): raw `points`, or `aggregates` per `step_s`."""

    start_ms: int
    end_ms: int
    step_s: int | None  # None: raw readings
    points: list[RawPoint]
    aggregates: list[AggregatePoint]
    truncated: bool  # raw readings past the limit were left out
    storage: dict[str, Any] | None  # the store's word when part of the span may be missing (InfluxDB down)

    @property
    def raw(self) -> bool:
        return self.step_s is None


@dataclass(frozen=True, slots=True)
class RoomLatest:
    id: int
    name: str
    values: dict[str, float]
    times: dict[str, int]  # metric -> ms of its latest value
    updated_ms: int | None


@dataclass(frozen=True, slots=True)
class SiteLatest:
    id: int
    name: str
    timezone: str
    rooms: list[RoomLatest]


def auto_step_s(span_s: float) -> int:
    """A step giving at most ~600 points: the default when a client asks for neither raw nor step."""
    for step in (60, 300, 900, 3600, 6 * 3600, 86400):
        if span_s / step <= 600:
            return step
    return 86400 * 7


def _stats(bucket: Bucket) -> dict[str, Stats]:
    return {m: Stats(total, lo, hi, n) for m, (total, lo, hi, n) in bucket.stats.items()}


class QueryService:
    def __init__(self, *, sessions: sessionmaker[Session], store: TimeSeriesStore):
        self.sessions, self.store = sessions, store

    # -- scope
    def _scope(self, selection: Selection) -> Scope:
        """The selected rooms (services.scope resolved the request's names and the principal's sites)."""
        with self.sessions() as s:
            stmt = select(Room, Site).join(Site, Room.site_id == Site.id)
            if selection.room_ids is not None:
                stmt = stmt.where(Room.id.in_(sorted(selection.room_ids)))
            rows = s.execute(stmt.order_by(Site.name, Room.name)).all()
            refs = [RoomRef(r.id, r.name, st.name, ZoneInfo(r.timezone or st.timezone)) for r, st in rows]
            sensor_pks, names = None, {}
            if selection.sensor_pk is not None:
                pk = selection.sensor_pk
                sensor_pks, names = [pk], {pk: s.scalar(select(Sensor.sensor_id).where(Sensor.id == pk))}
            return Scope(refs, sensor_pks, names)

    def _sensor_names(self, pks: set[int]) -> dict[int, str]:
        if not pks:
            return {}
        with self.sessions() as s:
            return dict(s.execute(select(Sensor.id, Sensor.sensor_id).where(Sensor.id.in_(pks))).all())

    # -- readings over a span
    async def data(
        self,
        selection: Selection,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        hours: float | None = None,
        step_s: int | None = None,
        raw: bool = False,
        metrics: list[str] | None = None,
        limit: int = 10_000,
        now: datetime | None = None,
    ) -> Series:
        """Raw readings (at most `limit`) or aggregates of the selected rooms. Without `start`, the `hours`
        (24) before `end` (now); steps of whole days follow each room's local midnights."""
        return await asyncio.to_thread(
            self._data, selection, start, end, hours, step_s, raw, metrics, limit, now or datetime.now(UTC)
        )

    @staticmethod
    def _range(start, end, hours, now) -> tuple[datetime, datetime]:
        if start is None:
            start = (end or now) - timedelta(hours=hours if hours is not None else 24)
        end = end or now + timedelta(minutes=5)  # sensors with a clock slightly ahead are still shown
        if start >= end:
            raise FieldError("start", _("must be before end")).as_error()
        return start, end

    def _data(self, selection, start, end, hours, step_s, raw, metrics, limit, now) -> Series:
        start, end = self._range(start, end, hours, now)
        scope = self._scope(selection)
        start_ms, end_ms = to_ms(start), to_ms(end)
        if raw:
            rows = self.store.query_raw(
                [r.id for r in scope.rooms], start_ms, end_ms, sensor_pks=scope.sensor_pks, limit=limit + 1
            )
            points = self._points(scope, rows[:limit], metrics)
            return Series(start_ms, end_ms, None, points, [], len(rows) > limit, self.store.read_status())
        step_s = self._step(start, end, step_s)
        buckets = self.buckets(scope, start_ms, end_ms, step_s, metrics)
        rooms = {r.id: r for r in scope.rooms}
        aggregates = [
            AggregatePoint(b.ts_ms, rooms[b.room_id].site, rooms[b.room_id].name, b.room_id, _stats(b))
            for b in buckets
        ]
        return Series(start_ms, end_ms, step_s, [], aggregates, False, self.store.read_status())

    def _points(self, scope: Scope, rows, metrics: list[str] | None) -> list[RawPoint]:
        rooms = {r.id: r for r in scope.rooms}
        names = scope.sensor_names or self._sensor_names({r.sensor_pk for r in rows})
        return [
            RawPoint(
                r.ts_ms, rooms[r.room_id].site, rooms[r.room_id].name, r.room_id, names.get(r.sensor_pk),
                {k: v for k, v in r.values.items() if k in metrics} if metrics else r.values,
            )
            for r in rows
        ]  # fmt: skip

    @staticmethod
    def _step(start: datetime, end: datetime, step_s: int | None) -> int:
        span_s = (end - start).total_seconds()
        step_s = step_s or auto_step_s(span_s)
        if span_s / step_s > MAX_POINTS:
            raise FieldError(
                "step",
                _(
                    "{format_step} over {value:g} h gives more than {MAX_POINTS} points; choose a larger step"
                ).format(format_step=format_step(step_s), value=span_s / 3600, MAX_POINTS=MAX_POINTS),
            ).as_error()
        return step_s

    # -- everything over a span, page by page: any range, never all in memory (CSV exports)
    async def pages(
        self,
        selection: Selection,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        hours: float | None = None,
        step_s: int | None = None,
        raw: bool = False,
        metrics: list[str] | None = None,
        page: int = 5000,
    ) -> AsyncIterator[list[RawPoint] | list[AggregatePoint]]:
        """The same selection as `data`, without a limit: raw readings a page at a time, or every
        aggregate (ordered by time, then room) in one page. Errors (bad range) come before the first page."""
        start, end = self._range(start, end, hours, datetime.now(UTC))
        scope = await asyncio.to_thread(self._scope, selection)
        start_ms, end_ms = to_ms(start), to_ms(end)
        if not raw:
            step_s = self._step(start, end, step_s)
            buckets = await asyncio.to_thread(self.buckets, scope, start_ms, end_ms, step_s, metrics)
            rooms = {r.id: r for r in scope.rooms}
            yield [
                AggregatePoint(b.ts_ms, rooms[b.room_id].site, rooms[b.room_id].name, b.room_id, _stats(b))
                for b in sorted(buckets, key=lambda b: (b.ts_ms, b.room_id))
            ]
            return
        after = None
        while True:
            rows = await asyncio.to_thread(
                self.store.query_raw, [r.id for r in scope.rooms], start_ms, end_ms,
                sensor_pks=scope.sensor_pks, limit=page, after=after,
            )  # fmt: skip
            if not rows:
                return
            yield await asyncio.to_thread(self._points, scope, rows, metrics)
            last = rows[-1]
            after = (last.ts_ms, last.room_id, last.sensor_pk)

    def buckets(
        self, scope: Scope, start_ms: int, end_ms: int, step_s: int, metrics: list[str] | None = None
    ) -> list[Bucket]:
        """Aggregates per room and step. Steps of whole days follow each room's local midnights."""
        room_ids = [r.id for r in scope.rooms]
        step_ms = step_s * 1000
        if step_s % 86400:
            return self.store.query_buckets(
                room_ids, start_ms, end_ms, step_ms, sensor_pks=scope.sensor_pks, metrics=metrics
            )
        days = step_s // 86400
        fine = self.store.query_buckets(
            room_ids, start_ms, end_ms, FINE_STEP_MS, sensor_pks=scope.sensor_pks, metrics=metrics
        )
        zones = {r.id: r.zone for r in scope.rooms}
        merged: dict[tuple[int, int], Bucket] = {}
        for b in fine:
            key = (b.room_id, local_day_start_ms(b.ts_ms, zones[b.room_id], days))
            target = merged.setdefault(key, Bucket(b.room_id, key[1]))
            merge_stats(target.stats, b.stats)
        return sorted(merged.values(), key=lambda b: (b.room_id, b.ts_ms))

    # -- the latest values (the dashboard, the room view, the twin)
    async def overview(self, *, site_id: int | None = None, room_id: int | None = None) -> list[SiteLatest]:
        """Sites with their rooms and each room's latest value per metric, with its time; only one site's,
        or one room's, when asked (the room view and the twin need no more)."""
        return await asyncio.to_thread(self._overview, site_id, room_id)

    def _overview(self, site_id: int | None = None, room_id: int | None = None) -> list[SiteLatest]:
        stmt = select(Site.id, Site.name, Site.timezone, Room.id, Room.name).outerjoin(
            Room, Room.site_id == Site.id
        )
        if site_id is not None:
            stmt = stmt.where(Site.id == site_id)
        if room_id is not None:
            stmt = stmt.where(Room.id == room_id)
        with self.sessions() as s:
            rows = s.execute(stmt.order_by(Site.name, Room.name)).all()
        wanted = None if site_id is None and room_id is None else [r[3] for r in rows if r[3] is not None]
        latest: dict[int, dict[str, tuple[float, int]]] = {}
        for v in self.store.latest(wanted):
            latest.setdefault(v.room_id, {})[v.metric] = (v.value, v.ts_ms)
        sites: dict[int, SiteLatest] = {}
        for site_id, site_name, tz, room_id, room_name in rows:
            site = sites.setdefault(site_id, SiteLatest(site_id, site_name, tz, []))
            if room_id is not None:
                values = latest.get(room_id, {})
                site.rooms.append(
                    RoomLatest(
                        room_id, room_name, {m: v for m, (v, _) in values.items()},
                        {m: ts for m, (_, ts) in values.items()},
                        max((ts for _, ts in values.values()), default=None),
                    )
                )  # fmt: skip
        return list(sites.values())

    async def hourly_means(
        self, room_ids: list[int], *, hours: int = 24
    ) -> dict[int, list[tuple[int, dict[str, float]]]]:
        """Each room's hourly means of the last `hours`, oldest first, in one query for every room: the
        dashboard's sparklines."""
        if not room_ids:
            return {}
        series = await self.data(Selection(frozenset(room_ids)), hours=hours, step_s=3600)
        out: dict[int, list[tuple[int, dict[str, float]]]] = {room_id: [] for room_id in room_ids}
        for point in series.aggregates:
            means = {m: stats.mean for m, stats in point.stats.items() if stats.count}
            out.setdefault(point.room_id, []).append((point.ts_ms, means))
        return out

    async def room_series(
        self, room_id: int, *, hours: float, step_s: int | None, now: datetime | None = None
    ) -> Series:
        """For the room chart: raw points for short ranges, aggregates for long ones."""
        return await self.data(
            Selection(frozenset({room_id})), hours=hours, step_s=step_s, raw=step_s is None, limit=50_000,
            now=now,
        )  # fmt: skip
