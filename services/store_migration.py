"""Copying the whole history of readings from one time-series store to the other (SQL <-> InfluxDB).

Readings are read in time order, a page at a time, and written in the target's own way (a transaction for
SQL, the outbox then a confirmed write for InfluxDB). After each page the position reached is saved in a
small file next to the database, so an interrupted copy continues where it stopped; writing a reading twice
is harmless anyway (both stores keep one reading per sensor and time).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from app.db.models import Room
from app.storage.base import StoredReading

END_MS = 4_102_444_800_000  # 2100-01-01: InfluxDB refuses times far beyond (its nanoseconds end in 2262)


@dataclass
class CopyResult:
    copied: int
    total: int
    done: bool


def copy_history(
    source,
    target,
    engine: Engine,
    cursor_path: Path,
    *,
    page: int = 5000,
    max_readings: int | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> CopyResult:
    """Copy every reading of `source` into `target` (both `TimeSeriesStore`s), resuming from `cursor_path`."""
    with engine.connect() as conn:
        room_ids = list(conn.execute(select(Room.id).order_by(Room.id)).scalars())
    state = json.loads(cursor_path.read_text()) if cursor_path.exists() else {"after": None, "copied": 0}
    after = tuple(state["after"]) if state["after"] else None
    copied = state["copied"]
    total = source.count(None)
    this_run = 0
    while max_readings is None or this_run < max_readings:
        size = page if max_readings is None else min(page, max_readings - this_run)
        rows = source.query_raw(room_ids, 0, END_MS, sensor_pks=None, limit=size, after=after)
        if not rows:
            break
        batch = [StoredReading(r.sensor_pk, r.room_id, r.ts_ms, r.values) for r in rows]
        with engine.begin() as conn:
            known = target.existing_keys(conn, [(r.sensor_pk, r.ts_ms) for r in batch])
            target.stage(conn, [r for r in batch if (r.sensor_pk, r.ts_ms) not in known])
        flush = getattr(target, "flush", None)
        if flush is not None:
            flush()  # InfluxDB confirmed them before the position moves on
        last = rows[-1]
        after = (last.ts_ms, last.room_id, last.sensor_pk)
        copied += len(rows)
        this_run += len(rows)
        cursor_path.write_text(json.dumps({"after": after, "copied": copied}))
        progress(copied, total)
    done = not source.query_raw(room_ids, 0, END_MS, sensor_pks=None, limit=1, after=after)
    return CopyResult(copied, total, done)
