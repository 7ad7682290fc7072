"""Reads of the InfluxDB adapter: InfluxDB's answer plus what still waits in the outbox, so a reading is
visible from its ack on; when InfluxDB cannot be reached, what the outbox holds, and `read_status()` says
so."""

from __future__ import annotations

import json
import logging

from sqlalchemy import and_, func, select

from app.core.db.models import Sensor
from app.core.domain.metrics import CORE_METRICS

from .base import Bucket, LatestValue, RawRow
from .influx_http import InfluxError, ident, literal
from .influx_lines import MEASUREMENT, TAGS
from .sql_schema import influx_outbox, latest_values

log = logging.getLogger(__name__)


def _merge(stats: dict, metric: str, value: float) -> None:
    old = stats.get(metric)
    if old is None:
        stats[metric] = (value, value, value, 1)
    else:
        total, lo, hi, n = old
        stats[metric] = (total + value, min(lo, value), max(hi, value), n + 1)


class InfluxReads:
    """The reading half of `InfluxTimeSeriesStore` (its state is set up there)."""

    # -- reads: InfluxDB plus the outbox
    def _unreachable(self, exc: InfluxError) -> None:
        """A read failed: InfluxDB down means answering from the outbox alone (and saying so); any other
        error (a refused query) is raised, never turned into a quietly partial answer."""
        if not exc.unreachable:
            raise exc
        if self.reachable:  # said once per outage; the drainer says when it is over
            log.warning("InfluxDB cannot be read (%s): answers hold only the readings waiting for it", exc)
        else:
            log.debug("InfluxDB read failed: %s", exc)
        self.reachable = False
        self.last_error = str(exc)[:300]

    def _sensor_pk(self, name: str) -> int | None:
        pk = self._sensor_pks.get(name)
        if pk is None:
            with self.engine.connect() as conn:
                pk = conn.execute(select(Sensor.id).where(Sensor.sensor_id == name)).scalar()
            if pk is not None:
                self._sensor_pks[name] = pk
        return pk

    def _where(self, room_ids: list[int], start_ms: int, end_ms: int, sensor_pks: list[int] | None) -> str:
        rooms = " OR ".join(f"{ident('room_id')} = {literal(str(int(r)))}" for r in room_ids)
        clause = f"({rooms}) AND time >= {int(start_ms)}ms AND time < {int(end_ms)}ms"
        if sensor_pks is not None:
            with self.engine.connect() as conn:
                names = conn.execute(select(Sensor.sensor_id).where(Sensor.id.in_(sensor_pks))).scalars()
                sensors = " OR ".join(f"{ident('sensor_id')} = {literal(n)}" for n in names)
            clause += " AND (" + (sensors or ident("sensor_id") + " = ''") + ")"
        return clause

    def _outbox_rows(self, room_ids, start_ms, end_ms, sensor_pks) -> list[tuple[int, int, int, dict]]:
        o = influx_outbox.c
        clauses = [o.room_id.in_(room_ids), o.ts_ms >= start_ms, o.ts_ms < end_ms]
        if sensor_pks is not None:
            clauses.append(o.sensor_pk.in_(sensor_pks))
        with self.engine.connect() as conn:
            rows = conn.execute(select(o.room_id, o.sensor_pk, o.ts_ms, o.payload).where(and_(*clauses)))
            return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def _raw_from_influx(self, where: str, limit: int) -> list[RawRow]:
        series = self.http.query(
            f"SELECT * FROM {ident(MEASUREMENT)} WHERE {where} ORDER BY time ASC LIMIT {int(limit)}"
        )
        out = []
        for s in series:
            columns = s["columns"]
            for row in s.get("values", []):
                record = dict(zip(columns, row, strict=True))
                sensor_pk = self._sensor_pk(record["sensor_id"])
                if sensor_pk is None:
                    continue  # a sensor deleted from the registry
                values = {
                    k: float(v) for k, v in record.items() if k not in TAGS and k != "time" and v is not None
                }
                out.append(RawRow(int(record["room_id"]), sensor_pk, int(record["time"]), values))
        return out

    def query_raw(
        self,
        room_ids: list[int],
        start_ms: int,
        end_ms: int,
        *,
        sensor_pks: list[int] | None = None,
        limit: int = 10_000,
        after: tuple[int, int, int] | None = None,
    ) -> list[RawRow]:
        """Readings in time order, (time, room, sensor); `after` continues a listing."""
        if not room_ids:
            return []
        lo = max(start_ms, after[0]) if after else start_ms
        rows: dict[tuple[int, int], RawRow] = {}
        try:
            where = self._where(room_ids, lo, end_ms, sensor_pks)
            fetched = self._raw_from_influx(where, limit)
            if len(fetched) >= limit:
                # InfluxDB orders by time only: the readings at the last time may be cut; take all of them
                last = max(r.ts_ms for r in fetched)
                fetched = [r for r in fetched if r.ts_ms < last]
                fetched += self._raw_from_influx(self._where(room_ids, last, last + 1, sensor_pks), 1_000_000)
            for r in fetched:
                rows[(r.sensor_pk, r.ts_ms)] = r
            self.reachable = True
        except InfluxError as exc:
            self._unreachable(exc)
        for room_id, sensor_pk, ts_ms, values in self._outbox_rows(room_ids, lo, end_ms, sensor_pks):
            rows[(sensor_pk, ts_ms)] = RawRow(room_id, sensor_pk, ts_ms, values)
        ordered = sorted(rows.values(), key=lambda r: (r.ts_ms, r.room_id, r.sensor_pk))
        if after is not None:
            ordered = [r for r in ordered if (r.ts_ms, r.room_id, r.sensor_pk) > tuple(after)]
        return ordered[:limit]

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
        """Sum, min, max and count per room and epoch-aligned bucket, as the SQL adapter computes them."""
        if not room_ids:
            return []
        metrics = list(metrics or CORE_METRICS)
        buckets: dict[tuple[int, int], Bucket] = {}
        cols = ", ".join(f"{fn}({ident(m)})" for m in metrics for fn in ("sum", "min", "max", "count"))
        where = self._where(room_ids, start_ms, end_ms, sensor_pks)
        q = (
            f"SELECT {cols} FROM {ident(MEASUREMENT)} WHERE {where}"
            f" GROUP BY time({int(step_ms)}ms), {ident('room_id')} fill(none)"
        )
        try:
            for s in self.http.query(q):
                room_id = int(s["tags"]["room_id"])
                for row in s.get("values", []):
                    b = Bucket(room_id, int(row[0]))
                    for i, m in enumerate(metrics):
                        total, lo, hi, n = row[1 + 4 * i : 5 + 4 * i]
                        if n:
                            b.stats[m] = (float(total), float(lo), float(hi), int(n))
                    if b.stats:
                        buckets[(room_id, b.ts_ms)] = b
            self.reachable = True
        except InfluxError as exc:
            self._unreachable(exc)
        wanted = set(metrics)
        for room_id, _, ts_ms, values in self._outbox_rows(room_ids, start_ms, end_ms, sensor_pks):
            key = (room_id, ts_ms - ts_ms % step_ms)
            b = buckets.get(key)
            if b is None:
                b = buckets[key] = Bucket(*key)
            for m, v in values.items():
                if m in wanted:
                    _merge(b.stats, m, float(v))
        return sorted((b for b in buckets.values() if b.stats), key=lambda b: (b.room_id, b.ts_ms))

    def latest(self, room_ids: list[int] | None = None) -> list[LatestValue]:
        stmt = select(latest_values)
        if room_ids is not None:
            stmt = stmt.where(latest_values.c.room_id.in_(room_ids))
        with self.engine.connect() as conn:
            return [
                LatestValue(r.room_id, r.metric, r.ts_ms, r.value, r.sensor_pk) for r in conn.execute(stmt)
            ]

    def count(
        self, room_ids: list[int] | None = None, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> int:
        """Stored readings: InfluxDB's points (the largest per-field count: every reading has one field at
        least, so this is exact when readings carry the same metrics) plus the outbox's."""
        clauses = []
        if room_ids is not None:
            if not room_ids:
                return 0
            clauses.append(
                "(" + " OR ".join(f"{ident('room_id')} = {literal(str(int(r)))}" for r in room_ids) + ")"
            )
        if start_ms is not None:
            clauses.append(f"time >= {int(start_ms)}ms")
        if end_ms is not None:
            clauses.append(f"time < {int(end_ms)}ms")
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        total = 0
        try:
            for s in self.http.query(f"SELECT count(*) FROM {ident(MEASUREMENT)}{where}"):
                for row in s.get("values", []):
                    total = max((int(v) for v in row[1:] if v is not None), default=0)
        except InfluxError as exc:
            self._unreachable(exc)
        o = influx_outbox.c
        stmt = select(func.count()).select_from(influx_outbox)
        if room_ids is not None:
            stmt = stmt.where(o.room_id.in_(room_ids))
        if start_ms is not None:
            stmt = stmt.where(o.ts_ms >= start_ms)
        if end_ms is not None:
            stmt = stmt.where(o.ts_ms < end_ms)
        with self.engine.connect() as conn:
            return total + int(conn.execute(stmt).scalar_one())
