"""The embedded time-series adapter: readings in SQL tables (SQLite by default, PostgreSQL works too)."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from app.core.domain.metrics import CORE_METRICS

from .base import Bucket, LatestValue, RawRow, StoredReading
from .sql_schema import latest_values, readings

_CORE = tuple(CORE_METRICS)
_CORE_SET = frozenset(CORE_METRICS)


_READING_KEYS = ("room_id", "ts_ms", "sensor_pk", *CORE_METRICS, "extra")


class _Prepared:
    """A statement compiled once to the driver's SQL; rows are tuples in `keys` order.

    With SQLite the rows go as one multi-row `VALUES (...), (...)` statement per chunk: `executemany` steps
    once per row and releases the GIL each time, and under load every re-acquisition waits for the event
    loop, which made inserting 1000 readings six times slower than alone. One statement steps once.
    """

    MAX_PARAMS = 30_000  # below SQLite's smallest default limit since 3.32 (32 766)

    def __init__(self, stmt, engine: Engine, keys: tuple[str, ...]):
        compiled = stmt.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.keys = keys
        self.positional = compiled.positiontup  # None for named paramstyles (e.g. psycopg's %(name)s)
        if self.positional is not None:
            order = [keys.index(name) for name in self.positional]
            self.reorder = None if order == list(range(len(keys))) else order
        group = "(" + ", ".join("?" * len(keys)) + ")"
        self.multi = None
        if engine.dialect.name == "sqlite" and self.positional is not None and self.sql.count(group) == 1:
            self.multi = self.sql.split(group)  # head, tail: the rows' groups go between them
            self.group = group
            self.chunk = max(1, self.MAX_PARAMS // len(keys))

    def executemany(self, conn: Connection, rows: list[tuple]) -> None:
        if not rows:
            return
        if self.positional is None:
            conn.exec_driver_sql(self.sql, [dict(zip(self.keys, row, strict=True)) for row in rows])
            return
        if self.reorder is not None:
            rows = [tuple(row[i] for i in self.reorder) for row in rows]
        if self.multi is None:
            conn.exec_driver_sql(self.sql, rows)
            return
        head, tail = self.multi
        cursor = _driver_cursor(conn)
        try:
            for start in range(0, len(rows), self.chunk):
                part = rows[start : start + self.chunk]
                sql = head + ", ".join([self.group] * len(part)) + tail
                cursor.execute(sql, tuple(chain.from_iterable(part)))
        finally:
            cursor.close()


def _driver_cursor(conn: Connection):
    """A cursor of the driver's connection, inside `conn`'s transaction. For the commit's few fixed
    statements, SQLAlchemy's per-statement machinery (execution context, events, result object) cost more
    than SQLite's work; the transaction itself stays SQLAlchemy's."""
    return conn.connection.dbapi_connection.cursor()


def _latest_rows(batch: list[StoredReading], newest_of_room: dict[int, StoredReading]) -> list[tuple]:
    """(room, metric, ts_ms, value, sensor) of the newest value of each room's metrics in `batch`: the room's
    newest reading gives its metrics; a metric that reading lacks comes from the newest reading having it."""
    others: dict[tuple[int, str], tuple] = {}
    for r in batch:
        top = newest_of_room[r.room_id]
        if r is top or r.values.keys() <= top.values.keys():
            continue
        for name, value in r.values.items():
            if name not in top.values:
                old = others.get((r.room_id, name))
                if old is None or r.ts_ms >= old[2]:
                    others[(r.room_id, name)] = (r.room_id, name, r.ts_ms, value, r.sensor_pk)
    rows = [
        (room, name, top.ts_ms, value, top.sensor_pk)
        for room, top in newest_of_room.items()
        for name, value in top.values.items()
    ]
    rows += others.values()
    return rows


def _insert_for(dialect: str) -> Callable[[Any], Any]:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


class SqlTimeSeriesStore:
    """Implements `TimeSeriesStore` on the registry's own database."""

    backend = "sql"
    series = None  # scores, forecasts and actions are in their own tables, read from there

    def __init__(self, engine: Engine):
        self.engine = engine
        # Built once: composing SQLAlchemy expressions costs more than executing them on the hot path.
        self._existing = select(readings.c.sensor_pk, readings.c.ts_ms).where(
            readings.c.sensor_pk.in_(bindparam("sensors", expanding=True)),
            readings.c.ts_ms.between(bindparam("lo"), bindparam("hi")),
        )
        insert = _insert_for(engine.dialect.name)
        upsert = insert(latest_values)
        upsert = upsert.on_conflict_do_update(
            index_elements=[latest_values.c.room_id, latest_values.c.metric],
            set_={
                "ts_ms": upsert.excluded.ts_ms,
                "value": upsert.excluded.value,
                "sensor_pk": upsert.excluded.sensor_pk,
            },
            where=upsert.excluded.ts_ms >= latest_values.c.ts_ms,
        )
        # The two statements of every commit run as driver-level executemany of SQL compiled once for this
        # dialect: SQLAlchemy's per-row parameter processing cost more than SQLite's own work.
        self._insert_readings = _Prepared(insert(readings).on_conflict_do_nothing(), engine, _READING_KEYS)
        self._upsert_latest = _Prepared(upsert, engine, ("room_id", "metric", "ts_ms", "value", "sensor_pk"))
        self._existing_sql: dict[int, str] | None = {} if engine.dialect.paramstyle == "qmark" else None

    # -- writes, inside the ingest transaction
    def existing_keys(self, conn: Connection, keys: list[tuple[int, int]]) -> set[tuple[int, int]]:
        if not keys:
            return set()
        sensors = sorted({k[0] for k in keys})
        times = [k[1] for k in keys]
        lo, hi = min(times), max(times)
        if self._existing_sql is not None:  # SQLite: the SQL for this many sensors, built once
            sql = self._existing_sql.get(len(sensors))
            if sql is None:
                marks = ", ".join("?" * len(sensors))
                sql = (
                    f"SELECT sensor_pk, ts_ms FROM {readings.name} "
                    f"WHERE sensor_pk IN ({marks}) AND ts_ms BETWEEN ? AND ?"
                )
                if len(self._existing_sql) < 256:
                    self._existing_sql[len(sensors)] = sql
            cursor = _driver_cursor(conn)
            try:
                rows = cursor.execute(sql, (*sensors, lo, hi)).fetchall()  # tuples already
            finally:
                cursor.close()
        else:
            rows = list(map(tuple, conn.execute(self._existing, {"sensors": sensors, "lo": lo, "hi": hi})))
        wanted = set(keys)
        return {key for key in rows if key in wanted}

    def stage(self, conn: Connection, batch: list[StoredReading]) -> None:
        if not batch:
            return
        rows = []
        add = rows.append
        newest_of_room: dict[int, StoredReading] = {}  # the newest reading (the last of equal times)
        for r in batch:
            values = r.values
            get = values.get
            extra = (
                None
                if values.keys() <= _CORE_SET
                else json.dumps({k: v for k, v in values.items() if k not in _CORE_SET})
            )
            add(
                (
                    r.room_id,
                    r.ts_ms,
                    r.sensor_pk,
                    get("co2"),
                    get("pm25"),
                    get("tvoc"),
                    get("temperature"),
                    get("humidity"),
                    extra,
                )
            )
            newest = newest_of_room.get(r.room_id)
            if newest is None or r.ts_ms >= newest.ts_ms:
                newest_of_room[r.room_id] = r
        self._insert_readings.executemany(conn, rows)
        self._upsert_latest.executemany(conn, _latest_rows(batch, newest_of_room))

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
        after: tuple[int, int, int] | None = None,
    ) -> list[RawRow]:
        """Readings in time order; `after` (ts_ms, room_id, sensor_pk) of the last row continues a listing."""
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
        if after is not None:
            stmt = stmt.where(
                tuple_(readings.c.ts_ms, readings.c.room_id, readings.c.sensor_pk) > tuple_(*after)
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

    def count(
        self, room_ids: list[int] | None = None, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> int:
        stmt = select(func.count()).select_from(readings)
        if room_ids is not None:
            stmt = stmt.where(readings.c.room_id.in_(room_ids))
        if start_ms is not None:
            stmt = stmt.where(readings.c.ts_ms >= start_ms)
        if end_ms is not None:
            stmt = stmt.where(readings.c.ts_ms < end_ms)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    # -- status and life cycle: a transaction of the registry's database holds every reading
    def prepare(self) -> None:
        """Nothing to check: the registry's database is migrated before."""

    def read_status(self) -> dict[str, Any] | None:
        return None

    def flush(self) -> int:
        return 0

    def close(self) -> None:
        pass

    # -- retention (services/rollups.py)
    def delete_before(self, cutoff_ms: int) -> int:
        """Delete raw readings older than `cutoff_ms`; their rollups stay. Returns how many went."""
        with self.engine.begin() as conn:
            return conn.execute(readings.delete().where(readings.c.ts_ms < cutoff_ms)).rowcount or 0
