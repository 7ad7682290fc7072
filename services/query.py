"""Reading the time series back: raw and aggregated data for the API and the dashboard."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.db.models import Room, Sensor, Site
from app.core.domain.buckets import local_day_start_ms, merge_stats
from app.core.domain.metrics import CORE_METRICS
from app.core.domain.readings import FieldError
from app.core.domain.timesteps import MAX_POINTS, format_step, iso_ms, to_ms
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


def auto_step_s(span_s: float) -> int:
    """A step giving at most ~600 points: the default when a client asks for neither raw nor step."""
    for step in (60, 300, 900, 3600, 6 * 3600, 86400):
        if span_s / step <= 600:
            return step
    return 86400 * 7


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

    # -- the API's /api/iaq/data
    async def data(
        self,
        selection: Selection,
        *,
        site: str | None = None,
        room: str | None = None,
        sensor_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        hours: float | None = None,
        step_s: int | None = None,
        raw: bool = False,
        metrics: list[str] | None = None,
        limit: int = 10_000,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Raw readings or aggregates of the selected rooms; `site`, `room` and `sensor_id` are the names
        the request gave, repeated in the answer."""
        return await asyncio.to_thread(
            self._data,
            selection,
            site,
            room,
            sensor_id,
            start,
            end,
            hours,
            step_s,
            raw,
            metrics,
            limit,
            now or datetime.now(UTC),
        )

    @staticmethod
    def _range(start, end, hours, now) -> tuple[datetime, datetime]:
        if start is None:
            start = (end or now) - timedelta(hours=hours if hours is not None else 24)
        end = end or now + timedelta(minutes=5)  # sensors with a clock slightly ahead are still shown
        if start >= end:
            raise FieldError("start", "must be before end").as_error()
        return start, end

    def _data(self, selection, site, room, sensor_id, start, end, hours, step_s, raw, metrics, limit, now):
        start, end = self._range(start, end, hours, now)
        scope = self._scope(selection)
        rooms = {r.id: r for r in scope.rooms}
        head = {
            "enseigne": site,
            "salle": room,
            "sensor_id": sensor_id,
            "start": iso_ms(to_ms(start)),
            "end": iso_ms(to_ms(end)),
        }
        if raw:
            rows = self.store.query_raw(
                list(rooms), to_ms(start), to_ms(end), sensor_pks=scope.sensor_pks, limit=limit + 1
            )
            names = scope.sensor_names or self._sensor_names({r.sensor_pk for r in rows})
            data = [
                {
                    "timestamp": iso_ms(r.ts_ms),
                    "enseigne": rooms[r.room_id].site,
                    "salle": rooms[r.room_id].name,
                    "sensor_id": names.get(r.sensor_pk),
                    **({k: v for k, v in r.values.items() if k in metrics} if metrics else r.values),
                }
                for r in rows[:limit]
            ]
            out = {**head, "raw": True, "count": len(data), "truncated": len(rows) > limit, "data": data}
            return self._with_storage_status(out)
        step_s = self._step(start, end, step_s)
        buckets = self.buckets(scope, to_ms(start), to_ms(end), step_s, metrics)
        data = []
        for b in buckets:
            ref = rooms[b.room_id]
            record: dict[str, Any] = {"timestamp": iso_ms(b.ts_ms), "enseigne": ref.site, "salle": ref.name}
            stats = {}
            for metric, (total, lo, hi, n) in b.stats.items():
                record[metric] = round(total / n, 4)
                stats[metric] = {"min": lo, "max": hi, "count": n}
            record["stats"] = stats
            data.append(record)
        out = {**head, "raw": False, "step": format_step(step_s), "count": len(data), "data": data}
        return self._with_storage_status(out)

    def _with_storage_status(self, answer: dict[str, Any]) -> dict[str, Any]:
        """Adds `pending` (and `storage`) when the store says the answer may be incomplete: InfluxDB down
        or readings still waiting in its outbox. Those readings are in the answer; InfluxDB's may not be."""
        status = self.store.read_status()
        if status:
            answer["pending"] = True
            answer["storage"] = status
        return answer

    @staticmethod
    def _step(start: datetime, end: datetime, step_s: int | None) -> int:
        span_s = (end - start).total_seconds()
        step_s = step_s or auto_step_s(span_s)
        if span_s / step_s > MAX_POINTS:
            raise FieldError(
                "step",
                f"{format_step(step_s)} over {span_s / 3600:g} h gives more than "
                f"{MAX_POINTS} points; choose a larger step",
            ).as_error()
        return step_s

    # -- CSV export, streamed: any range, never all in memory
    async def csv(
        self,
        selection: Selection,
        *,
        start=None,
        end=None,
        hours=None,
        step_s=None,
        raw=False,
        metrics=None,
        page=5000,
    ) -> AsyncIterator[str]:
        """The same selection as `data`, as CSV text chunks. Raw rows are read page by page."""
        now = datetime.now(UTC)
        start, end = self._range(start, end, hours, now)
        scope = await asyncio.to_thread(self._scope, selection)
        rooms = {r.id: r for r in scope.rooms}
        if raw:
            columns = list(metrics) if metrics else [*CORE_METRICS, "extra"]
            yield _csv_line(["timestamp", "enseigne", "salle", "sensor_id", *columns])
            after = None
            while True:
                rows = await asyncio.to_thread(
                    self.store.query_raw,
                    list(rooms),
                    to_ms(start),
                    to_ms(end),
                    sensor_pks=scope.sensor_pks,
                    limit=page,
                    after=after,
                )
                if not rows:
                    return
                names = scope.sensor_names or await asyncio.to_thread(
                    self._sensor_names, {r.sensor_pk for r in rows}
                )
                lines = []
                for r in rows:
                    cells = [r.values.get(c) for c in columns]
                    if not metrics:
                        extra = {k: v for k, v in r.values.items() if k not in CORE_METRICS}
                        cells[-1] = json.dumps(extra, separators=(",", ":")) if extra else None
                    ref = rooms[r.room_id]
                    lines.append(
                        _csv_line([iso_ms(r.ts_ms), ref.site, ref.name, names.get(r.sensor_pk), *cells])
                    )
                yield "".join(lines)
                last = rows[-1]
                after = (last.ts_ms, last.room_id, last.sensor_pk)
        else:
            step_s = self._step(start, end, step_s)
            names = list(metrics or CORE_METRICS)
            buckets = await asyncio.to_thread(self.buckets, scope, to_ms(start), to_ms(end), step_s, names)
            yield _csv_line(
                [
                    "timestamp",
                    "enseigne",
                    "salle",
                    *(f"{m}_{stat}" for m in names for stat in ("mean", "min", "max", "count")),
                ]
            )
            lines = []
            for b in sorted(buckets, key=lambda b: (b.ts_ms, b.room_id)):
                cells: list[Any] = []
                for m in names:
                    total, lo, hi, n = b.stats.get(m, (None, None, None, 0))
                    cells += [round(total / n, 4) if n else None, lo, hi, n]
                ref = rooms[b.room_id]
                lines.append(_csv_line([iso_ms(b.ts_ms), ref.site, ref.name, *cells]))
            yield "".join(lines)

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

    # -- the dashboard
    async def overview(
        self, *, site_id: int | None = None, room_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Sites with their rooms and each room's latest value per metric, with its time (`times`);
        only one site's, or one room's, when asked (the room view and the twin need no more)."""
        return await asyncio.to_thread(self._overview, site_id, room_id)

    def _overview(self, site_id: int | None = None, room_id: int | None = None) -> list[dict[str, Any]]:
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
        sites: dict[int, dict[str, Any]] = {}
        for site_id, site_name, tz, room_id, room_name in rows:
            site = sites.setdefault(site_id, {"id": site_id, "name": site_name, "timezone": tz, "rooms": []})
            if room_id is not None:
                values = latest.get(room_id, {})
                site["rooms"].append(
                    {
                        "id": room_id,
                        "name": room_name,
                        "values": {m: v for m, (v, _) in values.items()},
                        "times": {m: ts for m, (_, ts) in values.items()},
                        "updated_ms": max((ts for _, ts in values.values()), default=None),
                    }
                )
        return list(sites.values())

    async def room_series(
        self, room_id: int, *, hours: float, step_s: int | None, now: datetime | None = None
    ) -> dict[str, Any]:
        """For the room chart: raw points for short ranges, mean/min/max buckets for long ones."""
        return await self.data(
            Selection(frozenset({room_id})),
            hours=hours,
            step_s=step_s,
            raw=step_s is None,
            limit=50_000,
            now=now,
        )


def _csv_line(cells: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(["" if c is None else c for c in cells])
    return out.getvalue()
