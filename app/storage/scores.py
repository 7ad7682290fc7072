"""The series of room scores (`iaq_scores`) in the registry's SQL database.

Written in batches by the scoring service, read back for `/api/predict/score/history`. The InfluxDB adapter
(issue 3) will write the same rows to its `iaq_scores` measurement.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.db.models import Room

from .sql_schema import iaq_scores


class ScoreRow(NamedTuple):
    room_id: int
    ts_ms: int
    score: float
    level: str
    driver: str


class SqlScoreStore:
    def __init__(self, engine: Engine):
        self.engine = engine
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
        return len(params)

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
