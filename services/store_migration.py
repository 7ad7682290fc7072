"""Copying the whole history of readings from one time-series store to the other (SQL <-> InfluxDB).

Readings are read in time order, a page at a time, and written in the target's own way (a transaction for
SQL, the outbox then a confirmed write for InfluxDB). After each page the position reached is saved in a
small file next to the database, so an interrupted copy continues where it stopped; writing a reading twice
is harmless anyway (both stores keep one reading per sensor and time).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from app.core.db.models import Room
from app.core.storage.base import StoredReading


@dataclass
class CopyResult:
    copied: int  # by this run
    copied_in_all: int  # by every run of this copy so far
    total: int  # what this run had to copy, counted at its start
    done: bool  # nothing from before this run's start is left to copy


def copy_history(
    source,
    target,
    engine: Engine,
    cursor_path: Path,
    *,
    page: int = 5000,
    max_readings: int | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    until_ms: int | None = None,
) -> CopyResult:
    """Copy every reading of `source` into `target` (both `TimeSeriesStore`s), resuming from `cursor_path`.

    A run copies the readings timestamped before `until_ms` (its start: on a live platform readings keep
    arriving, and a run that chased them would never end); `progress(done, total)` counts this run's
    readings against those it had to copy, counted at its start. A later run copies what came since."""
    until_ms = until_ms if until_ms is not None else int(time.time() * 1000)
    with engine.connect() as conn:
        room_ids = list(conn.execute(select(Room.id).order_by(Room.id)).scalars())
    state = json.loads(cursor_path.read_text()) if cursor_path.exists() else {"after": None, "copied": 0}
    after = tuple(state["after"]) if state["after"] else None
    copied = state["copied"]
    total = source.count(None, start_ms=after[0] if after else None, end_ms=until_ms)
    this_run = 0
    while max_readings is None or this_run < max_readings:
        size = page if max_readings is None else min(page, max_readings - this_run)
        rows = source.query_raw(room_ids, 0, until_ms, sensor_pks=None, limit=size, after=after)
        if not rows:
            break
        batch = [StoredReading(r.sensor_pk, r.room_id, r.ts_ms, r.values) for r in rows]
        with engine.begin() as conn:
            known = target.existing_keys(conn, [(r.sensor_pk, r.ts_ms) for r in batch])
            target.stage(conn, [r for r in batch if (r.sensor_pk, r.ts_ms) not in known])
        target.flush()  # InfluxDB confirmed them before the position moves on (SQL: committed already)
        last = rows[-1]
        after = (last.ts_ms, last.room_id, last.sensor_pk)
        copied += len(rows)
        this_run += len(rows)
        cursor_path.write_text(json.dumps({"after": after, "copied": copied}))
        progress(min(this_run, total), total)  # readings of the cursor's own time may be counted twice
    done = not source.query_raw(room_ids, 0, until_ms, sensor_pks=None, limit=1, after=after)
    if done:  # the count at the start may include readings of the cursor's own time, copied already
        total = this_run
        progress(this_run, total)
    return CopyResult(this_run, copied, max(total, this_run), done)
