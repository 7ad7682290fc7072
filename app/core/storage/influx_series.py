"""The seed's other InfluxDB series (`iaq_scores`, `iaq_forecast`, `iaq_actions`) behind their own outbox.

Readings have `influx_outbox` (`app/core/storage/influx.py`), which reads and repeat detection use. Scores,
forecasts and actions are read from their SQL tables (the pages' source), so InfluxDB only needs a copy:
each point is encoded once into line protocol (influxdb-client's `Point`) and committed to
`influx_series_outbox`, in the same transaction as its SQL row where the writer has one (scores, forecasts)
and right after it otherwise (actions). The outbox drainer (`app/core/storage/outbox.py`) sends these lines
like readings, in batches, and deletes only what InfluxDB confirmed.

Schema: tags `enseigne`, `salle` and `room_id` (as on `iaq_raw`), plus the tag-like texts of each series
(`priority`, `module_type`, `action_type`, `status`, `source`; `metric`, `horizon_min`, `model_type`;
`level`, `driver`); every field is a float. Other texts (who asked, the reason) stay in SQL only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select

from .sql_schema import influx_series_outbox

SCORES, FORECAST, ACTIONS = "iaq_scores", "iaq_forecast", "iaq_actions"
Point = tuple[int | None, str]  # (room id, line)


def encode(measurement: str, tags: Mapping[str, Any], fields: Mapping[str, Any], ts_ms: int) -> str | None:
    """One point in line protocol: empty tags left out (InfluxDB refuses them), fields as floats always
    (non-finite ones left out); None when no field is left."""
    from influxdb_client import Point as InfluxPoint
    from influxdb_client import WritePrecision

    point = InfluxPoint(measurement)
    for key in sorted(tags):
        value = tags[key]
        if value is not None and str(value) != "":
            point.tag(key, str(value))
    count = 0
    for key in sorted(fields):
        value = fields[key]
        if value is None or isinstance(value, bool):
            continue
        value = float(value)
        if math.isfinite(value):
            point.field(key, value)
            count += 1
    if not count:
        return None
    return point.time(int(ts_ms), WritePrecision.MS).to_line_protocol()


def score_line(row: Any, site: str, room: str) -> str | None:
    """A room score (`app.core.storage.scores.ScoreRow`) at the time of the newest reading it comes from."""
    tags = {"enseigne": site, "salle": room, "room_id": row.room_id, "level": row.level, "driver": row.driver}
    return encode(SCORES, tags, {"score": row.score}, row.ts_ms)


def forecast_line(row: Mapping[str, Any], site: str, room: str) -> str | None:
    """A forecast at its target time: one series per room, metric and horizon, so forecasts issued at
    different times for the same target time stay apart (and a repeated one is the same point)."""
    tags = {
        "enseigne": site,
        "salle": room,
        "room_id": row["room_id"],
        "metric": row["metric"],
        "horizon_min": row["horizon_min"],
        "model_type": row["model_type"],
    }
    fields = {
        "value": row["value"],
        "low": row["low"],
        "high": row["high"],
        "issued_ms": row["issued_ms"],
        "model_id": row.get("model_id"),
        "if_ventilated": row.get("if_ventilated"),
    }
    return encode(FORECAST, tags, fields, row["target_ms"])


def next_lines(engine: Engine, table: Table, size: int) -> list[tuple[int, str]]:
    """The oldest waiting lines of an outbox table not refused for good: (outbox id, line)."""
    o = table.c
    with engine.connect() as conn:
        rows = conn.execute(select(o.id, o.line).where(o.error.is_(None)).order_by(o.id).limit(size))
        return [tuple(r) for r in rows]


def delete_lines(engine: Engine, table: Table, ids: list[int]) -> None:
    """Remove lines InfluxDB confirmed from an outbox table."""
    with engine.begin() as conn:
        for start in range(0, len(ids), 5000):
            conn.execute(delete(table).where(table.c.id.in_(ids[start : start + 5000])))


def mark_refused(engine: Engine, table: Table, outbox_id: int, error: str) -> None:
    """InfluxDB refused this line for good: keep it, marked, out of the way of the others."""
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == outbox_id).values(error=error[:512]))


class SeriesOutbox:
    """`influx_series_outbox`: ready lines waiting for InfluxDB, drained like the readings' outbox."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.waiting = 0  # lines in the outbox (the drainer recounts; writers add)

    # -- writers
    def stage(self, conn: Connection, points: Iterable[Point]) -> int:
        """Commit lines with the caller's transaction (the SQL rows they copy)."""
        rows = [{"room_id": room_id, "line": line} for room_id, line in points if line]
        if rows:
            conn.execute(insert(influx_series_outbox), rows)
            self.waiting += len(rows)
        return len(rows)

    def add(self, points: Iterable[Point]) -> int:
        """Commit lines in a transaction of their own."""
        points = list(points)
        if not any(line for _, line in points):
            return 0
        with self.engine.begin() as conn:
            return self.stage(conn, points)

    def room_names(self, conn: Connection, room_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """(site, room) of each room, for the tags."""
        from app.core.db.models import Room, Site

        stmt = (
            select(Room.id, Site.name, Room.name)
            .join(Site, Room.site_id == Site.id)
            .where(Room.id.in_(sorted(set(room_ids))))
        )
        return {room_id: (site, room) for room_id, site, room in conn.execute(stmt)}

    # -- the drainer's side (the same calls as `InfluxTimeSeriesStore`'s outbox)
    def count_waiting(self) -> int:
        with self.engine.connect() as conn:
            stmt = select(func.count()).select_from(influx_series_outbox)
            self.waiting = int(conn.execute(stmt).scalar_one())
        return self.waiting

    def next_batch(self, size: int) -> list[tuple[int, str]]:
        return next_lines(self.engine, influx_series_outbox, size)

    def confirm(self, ids: list[int]) -> None:
        delete_lines(self.engine, influx_series_outbox, ids)
        self.waiting = max(0, self.waiting - len(ids))

    def refuse(self, outbox_id: int, error: str) -> None:
        mark_refused(self.engine, influx_series_outbox, outbox_id, error)

    def delete_rooms(self, room_ids: list[int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(influx_series_outbox).where(influx_series_outbox.c.room_id.in_(room_ids)))
        self.count_waiting()
