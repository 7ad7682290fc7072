"""The embedded time-series adapter: readings in SQL tables (SQLite by default, PostgreSQL works too)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.domain.metrics import CORE_METRICS

from .base import Bucket, LatestValue, RawRow, StoredReading
from .sql_schema import latest_values, readings

_CORE = tuple(CORE_METRICS)


def _insert_for(conn: Connection) -> Callable[[Any], Any]:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


class SqlTimeSeriesStore:
    """Implements `TimeSeriesStore` on the registry's own database."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- writes, inside the ingest transaction
    def existing_keys(self, conn: Connection, keys: list[tuple[int, int]]) -> set[tuple[int, int]]:
        if not keys:
            return set()
        sensors = sorted({k[0] for k in keys})
        lo = min(k[1] for k in keys)
        hi = max(k[1] for k in keys)
        rows = conn.execute(
            select(readings.c.sensor_pk, readings.c.ts_ms).where(
                readings.c.sensor_pk.in_(sensors), readings.c.ts_ms.between(lo, hi)
            )
        )
        wanted = set(keys)
        return {key for key in map(tuple, rows) if key in wanted}

    def stage(self, conn: Connection, batch: list[StoredReading]) -> None:
        if not batch:
            return
        rows = []
        newest: dict[tuple[int, str], tuple[int, float, int]] = {}
        for r in batch:
            row: dict[str, Any] = {"room_id": r.room_id, "ts_ms": r.ts_ms, "sensor_pk": r.sensor_pk}
            extra = {}
            for name, value in r.values.items():
                if name in CORE_METRICS:
                    row[name] = value
                else:
                    extra[name] = value
                key = (r.room_id, name)
                if key not in newest or r.ts_ms >= newest[key][0]:
                    newest[key] = (r.ts_ms, value, r.sensor_pk)
            for name in _CORE:
                row.setdefault(name, None)
            row["extra"] = extra or None
            rows.append(row)
        insert = _insert_for(conn)
        conn.execute(insert(readings).on_conflict_do_nothing(), rows)
        stmt = insert(latest_values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[latest_values.c.room_id, latest_values.c.metric],
            set_={
                "ts_ms": stmt.excluded.ts_ms,
                "value": stmt.excluded.value,
                "sensor_pk": stmt.excluded.sensor_pk,
            },
            where=stmt.excluded.ts_ms >= latest_values.c.ts_ms,
        )
        conn.execute(
            stmt,
            [
                {"room_id": room, "metric": metric, "ts_ms": ts, "value": value, "sensor_pk": sensor}
                for (room, metric), (ts, value, sensor) in newest.items()
            ],
        )

    # -- reads, each on its own connection (WAL: readers never wait for the writer)
    def _metric_column(self, name: str):
        return readings.c[name] if name in CORE_METRICS else readings.c.extra[name].as_float()

    def _where(self, room_ids: list[int], start_ms: int, end_ms: int, sensor_pks: list[int] | None):
        clauses = [readings.c.room_id.in_(room_ids), readings.c.ts_ms >= start_ms, readings.c.ts_ms < end_ms]
        if sensor_pks is not None:
            clauses.append(readings.c.sensor_pk.in_(sensor_pks))
        return and_(*clauses)

    def query_raw(
        self,
        room_ids: list[int],
        start_ms: int,
        end_ms: int,
        *,
        sensor_pks: list[int] | None = None,
        limit: int = 10_000,
    ) -> list[RawRow]:
        if not room_ids:
            return []
        stmt = (
            select(
                readings.c.room_id,
                readings.c.sensor_pk,
                readings.c.ts_ms,
                *(readings.c[m] for m in _CORE),
                readings.c.extra,
            )
            .where(self._where(room_ids, start_ms, end_ms, sensor_pks))
            .order_by(readings.c.ts_ms, readings.c.room_id, readings.c.sensor_pk)
            .limit(limit)
        )
        out = []
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                values = {m: row[3 + i] for i, m in enumerate(_CORE) if row[3 + i] is not None}
                if row.extra:
                    values.update(row.extra)
                out.append(RawRow(row.room_id, row.sensor_pk, row.ts_ms, values))
        return out

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
        """Sum, min, max and count per room and step-aligned bucket (aligned on the epoch, i.e. UTC)."""
        if not room_ids:
            return []
        metrics = list(metrics or _CORE)
        bucket = (readings.c.ts_ms // step_ms).label("bucket")
        cols = []
        for m in metrics:
            col = self._metric_column(m)
            cols += [func.sum(col), func.min(col), func.max(col), func.count(col)]
        stmt = (
            select(readings.c.room_id, bucket, *cols)
            .where(self._where(room_ids, start_ms, end_ms, sensor_pks))
            .group_by(readings.c.room_id, bucket)
            .order_by(readings.c.room_id, bucket)
        )
        out = []
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                b = Bucket(row[0], int(row[1]) * step_ms)
                for i, m in enumerate(metrics):
                    total, lo, hi, n = row[2 + 4 * i : 6 + 4 * i]
                    if n:
                        b.stats[m] = (float(total), float(lo), float(hi), int(n))
                if b.stats:
                    out.append(b)
        return out

    def latest(self, room_ids: list[int] | None = None) -> list[LatestValue]:
        stmt = select(latest_values)
        if room_ids is not None:
            stmt = stmt.where(latest_values.c.room_id.in_(room_ids))
        with self.engine.connect() as conn:
            return [
                LatestValue(r.room_id, r.metric, r.ts_ms, r.value, r.sensor_pk) for r in conn.execute(stmt)
            ]

    def count(self, room_ids: list[int] | None = None) -> int:
        stmt = select(func.count()).select_from(readings)
        if room_ids is not None:
            stmt = stmt.where(readings.c.room_id.in_(room_ids))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())
