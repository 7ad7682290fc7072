"""The series of room scores (`iaq_scores`) in the registry's SQL database.

Written in batches by the scoring service, read back for `/api/predict/score/history`. With InfluxDB as the
store, the same transaction commits each row as an `iaq_scores` point to the series outbox
(`app/core/storage/influx_series.py`), which the outbox drainer sends on.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.core.db.models import Room

from .sql_schema import iaq_scores


class ScoreRow(NamedTuple):
    room_id: int
    ts_ms: int
    score: float
    level: str
    driver: str


class SqlScoreStore:
    def __init__(self, engine: Engine, series: Any = None):
        self.engine = engine
        self.series = series  # an `influx_series.SeriesOutbox` when InfluxDB holds the time series
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert = insert(iaq_scores).on_conflict_do_nothing()  # a replayed minute keeps its first score

    def write(self, rows: list[ScoreRow]) -> int:
        """Insert rows in one transaction, dropping rows of rooms deleted meanwhile; returns rows written."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            wanted = sorted({r.room_id for r in rows})
            existing = set(conn.execute(select(Room.id).where(Room.id.in_(wanted))).scalars())
            params = [r._asdict() for r in rows if r.room_id in existing]
            if params:
                conn.execute(self._insert, params)
                if self.series is not None:
                    self._stage(conn, [r for r in rows if r.room_id in existing])
        return len(params)

    def _stage(self, conn, rows: list[ScoreRow]) -> None:
        from .influx_series import score_line

        names = self.series.room_names(conn, {r.room_id for r in rows})
        self.series.stage(conn, [(r.room_id, score_line(r, *names[r.room_id])) for r in rows])

    def history(self, room_id: int, start_ms: int, end_ms: int, *, limit: int = 50_000) -> list[ScoreRow]:
        stmt = (
            select(iaq_scores)
            .where(
                iaq_scores.c.room_id == room_id, iaq_scores.c.ts_ms >= start_ms, iaq_scores.c.ts_ms < end_ms
            )
            .order_by(iaq_scores.c.ts_ms)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [ScoreRow(*row) for row in conn.execute(stmt)]

    def last_times(self) -> dict[int, int]:
        """Time of the newest stored score of each room."""
        stmt = select(iaq_scores.c.room_id, func.max(iaq_scores.c.ts_ms)).group_by(iaq_scores.c.room_id)
        with self.engine.connect() as conn:
            return {room_id: int(ts) for room_id, ts in conn.execute(stmt)}
