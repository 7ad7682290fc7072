"""Rollups of the time series (5-minute and hourly buckets of every room) in the registry's database.

One table serves both time-series stores: rollups are small (a row per room and bucket, whatever the number
of sensors) and must outlive the raw readings, which each store deletes after its retention period.
"""

from __future__ import annotations

from sqlalchemy import Engine, and_, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from .base import Bucket
from .sql_schema import rollups


class SqlRollupStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(rollups)
        self._upsert = stmt.on_conflict_do_update(
            index_elements=[rollups.c.room_id, rollups.c.step_s, rollups.c.ts_ms],
            set_={"stats": stmt.excluded.stats},
        )

    def replace(self, step_s: int, room_id: int, start_ms: int, end_ms: int, buckets: list[Bucket]) -> None:
        """Make the rollups of one room over [start_ms, end_ms) exactly `buckets` (recomputed from raw)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(rollups).where(
                    rollups.c.room_id == room_id,
                    rollups.c.step_s == step_s,
                    rollups.c.ts_ms >= start_ms,
                    rollups.c.ts_ms < end_ms,
                )
            )
            rows = [
                {
                    "room_id": room_id,
                    "step_s": step_s,
                    "ts_ms": b.ts_ms,
                    "stats": {m: list(s) for m, s in b.stats.items()},
                }
                for b in buckets
                if b.stats
            ]
            if rows:
                conn.execute(self._upsert, rows)

    def read(
        self, step_s: int, room_ids: list[int], start_ms: int, end_ms: int, metrics: list[str]
    ) -> list[Bucket]:
        """Rollup buckets starting in [start_ms, end_ms), with only `metrics`."""
        r = rollups.c
        stmt = (
            select(r.room_id, r.ts_ms, r.stats)
            .where(and_(r.step_s == step_s, r.room_id.in_(room_ids), r.ts_ms >= start_ms, r.ts_ms < end_ms))
            .order_by(r.room_id, r.ts_ms)
        )
        out = []
        with self.engine.connect() as conn:
            for room_id, ts_ms, stats in conn.execute(stmt):
                b = Bucket(room_id, ts_ms)
                for m in metrics:
                    if m in stats:
                        total, lo, hi, n = stats[m]
                        b.stats[m] = (float(total), float(lo), float(hi), int(n))
                if b.stats:
                    out.append(b)
        return out

    def newest_ms(self, step_s: int, room_id: int) -> int | None:
        r = rollups.c
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.max(r.ts_ms)).where(r.step_s == step_s, r.room_id == room_id)
            ).scalar()

    def delete_before(self, cutoff_ms: int) -> int:
        with self.engine.begin() as conn:
            return conn.execute(delete(rollups).where(rollups.c.ts_ms < cutoff_ms)).rowcount or 0
