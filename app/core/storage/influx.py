"""The InfluxDB time-series adapter, behind the same port as the SQL one (`app/core/storage/base.py`).

Writes never go to InfluxDB inside a request: `stage` commits each reading to the local outbox table (in the
ingest transaction, so the ack follows the commit) and the drainer (`app/core/storage/outbox.py`) sends them.
Reads ask InfluxDB and add what still waits in the outbox, so a reading is visible from its ack on; when
InfluxDB cannot be reached they return what the outbox holds and `read_status()` says data is pending.

Schema (the original product's): measurement `iaq_raw`, tags `sensor_id`, `enseigne`, `salle` and `room_id`
(the registry's room, which survives renames and is what reads select on), fields as floats always.
Latest values per room and metric stay in the local `latest_values` table, written in the same transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.core.db.models import Room, Sensor, Site

from .base import StoreBusy, StoredReading, StoreRefused
from .influx_http import InfluxAuthError, InfluxError, InfluxHttp, ident, literal
from .influx_lines import MEASUREMENT, LineEncoder
from .influx_reads import InfluxReads
from .influx_series import SeriesOutbox, mark_refused, next_lines
from .sql_schema import influx_outbox, influx_sent_keys, latest_values

log = logging.getLogger(__name__)


class BacklogFull(StoreBusy):
    """The outbox holds as many readings as allowed: refuse (503) rather than drop."""


class InfluxTimeSeriesStore(InfluxReads):
    """Implements `TimeSeriesStore` on InfluxDB, with the durable outbox in the registry's database."""

    backend = "influxdb"

    def __init__(
        self,
        engine: Engine,
        http: InfluxHttp,
        *,
        max_waiting: int = 2_000_000,
        duplicate_window_ms: int = 48 * 3600_000,
        clock: Callable[[], float] = time.time,
    ):
        self.engine, self.http, self.max_waiting = engine, http, max_waiting
        self.duplicate_window_ms, self.clock = duplicate_window_ms, clock
        self.waiting = 0  # readings in the outbox (the drainer recounts; stage adds)
        self.reachable = True  # the drainer's and the reads' latest experience of InfluxDB
        self.last_error: str | None = None
        self.series = SeriesOutbox(engine)  # scores, forecasts and actions on their way (drained alike)
        self._sensor_ids: dict[int, str] = {}
        self._sensor_pks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._encoder = LineEncoder()
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert_outbox = insert(influx_outbox).on_conflict_do_nothing()
        self._insert_sent = insert(influx_sent_keys).on_conflict_do_nothing()
        upsert = insert(latest_values)
        self._upsert_latest = upsert.on_conflict_do_update(
            index_elements=[latest_values.c.room_id, latest_values.c.metric],
            set_={
                "ts_ms": upsert.excluded.ts_ms,
                "value": upsert.excluded.value,
                "sensor_pk": upsert.excluded.sensor_pk,
            },
            where=upsert.excluded.ts_ms >= latest_values.c.ts_ms,
        )

    # -- status
    def prepare(self) -> None:
        """Refuse to start when InfluxDB rejects the credentials; one that cannot be reached is no reason to
        refuse: the outbox waits for it."""
        try:
            if not self.http.ensure_database():
                self.reachable = False
                log.warning("InfluxDB at %s cannot be reached; readings wait in the outbox", self.http.url)
        except InfluxAuthError as exc:
            raise StoreRefused(
                f"InfluxDB at {self.http.url} rejected the credentials ({exc}); "
                "check INFLUXDB_TOKEN (user:password for InfluxDB 1.x, an API token for 2.x/3.x)"
            ) from None
        self.count_waiting()

    def count_waiting(self) -> int:
        with self.engine.connect() as conn:
            self.waiting = int(conn.execute(select(func.count()).select_from(influx_outbox)).scalar_one())
        return self.waiting

    def read_status(self) -> dict[str, Any] | None:
        """None when reads are complete (InfluxDB answers; readings on their way are read from the outbox);
        while InfluxDB cannot be reached, what a reader should know: its part is missing, N readings wait."""
        if self.reachable:
            return None
        return {
            "pending": True,
            "waiting": self.waiting,
            "influxdb": "ok" if self.reachable else "unreachable",
        }

    # -- writes, inside the ingest transaction
    def _names(self, conn: Connection, batch: list[StoredReading]) -> tuple[dict, dict]:
        room_ids = {r.room_id for r in batch}
        rooms = {
            rid: (site, room)
            for rid, room, site in conn.execute(
                select(Room.id, Room.name, Site.name)
                .join(Site, Room.site_id == Site.id)
                .where(Room.id.in_(room_ids))
            )
        }
        missing = {r.sensor_pk for r in batch} - self._sensor_ids.keys()
        if missing:
            found = dict(
                conn.execute(select(Sensor.id, Sensor.sensor_id).where(Sensor.id.in_(missing))).all()
            )
            with self._lock:
                self._sensor_ids.update(found)  # a sensor's id never changes (it is how devices name it)
        return rooms, self._sensor_ids

    def existing_keys(self, conn: Connection, keys: list[tuple[int, int]]) -> set[tuple[int, int]]:
        """Keys already stored: waiting in the outbox, sent within the duplicate window (`influx_sent_keys`,
        known without asking InfluxDB, so also while it is down), or older and in InfluxDB. A reading older
        than the window sent again while InfluxDB cannot be reached is taken as new: it is the same point
        (same series and time) and overwrites itself, so it is still stored once, but answered as stored."""
        if not keys:
            return set()
        wanted = set(keys)
        sensors = sorted({k[0] for k in keys})
        lo, hi = min(k[1] for k in keys), max(k[1] for k in keys)
        found = set()
        for table in (influx_outbox, influx_sent_keys):
            rows = conn.execute(
                select(table.c.sensor_pk, table.c.ts_ms).where(
                    table.c.sensor_pk.in_(sensors), table.c.ts_ms.between(lo, hi)
                )
            )
            found |= {key for key in map(tuple, rows) if key in wanted}
        window_start = self.window_start_ms()
        older = [k for k in wanted - found if k[1] < window_start]
        if older and self.reachable:  # only what the window does not cover needs InfluxDB
            sensors = sorted({k[0] for k in older})
            lo, hi = min(k[1] for k in older), max(k[1] for k in older)
            found |= self._existing_in_influx(conn, sensors, lo, hi) & wanted
        return found

    def window_start_ms(self) -> int:
        """The reading time from which a confirmed reading's key is kept (the duplicate window)."""
        return int(self.clock() * 1000) - self.duplicate_window_ms

    def _existing_in_influx(self, conn: Connection, sensors: list[int], lo: int, hi: int) -> set:
        missing = set(sensors) - self._sensor_ids.keys()
        if missing:
            found = dict(
                conn.execute(select(Sensor.id, Sensor.sensor_id).where(Sensor.id.in_(missing))).all()
            )
            with self._lock:
                self._sensor_ids.update(found)
        names = {self._sensor_ids[pk]: pk for pk in sensors if pk in self._sensor_ids}
        if not names:
            return set()
        where = " OR ".join(f"{ident('sensor_id')} = {literal(name)}" for name in names)
        q = f"SELECT * FROM {ident(MEASUREMENT)} WHERE ({where}) AND time >= {lo}ms AND time <= {hi}ms"
        try:
            series = self.http.query(q)
        except InfluxError as exc:  # ingestion goes on: a reading sent twice is still one point
            self.reachable = self.reachable and not exc.unreachable
            self.last_error = str(exc)[:300]
            return set()
        out = set()
        for s in series:
            columns = s["columns"]
            sensor_col = columns.index("sensor_id")
            for row in s.get("values", []):
                name = row[sensor_col]
                if name in names:
                    out.add((names[name], int(row[0])))
        return out

    def stage(self, conn: Connection, batch: list[StoredReading]) -> None:
        if not batch:
            return
        if self.waiting + len(batch) > self.max_waiting:
            raise BacklogFull(
                f"{self.waiting} readings are waiting for InfluxDB, the limit is {self.max_waiting} "
                "(IAQ_OUTBOX_MAX); retry later"
            )
        rooms, sensor_ids = self._names(conn, batch)
        encoder, dumps = self._encoder, orjson.dumps
        rows, newest = [], {}
        for r in batch:
            site, room = rooms[r.room_id]
            values = r.values
            prefix = encoder.series(sensor_ids[r.sensor_pk], site, room, r.room_id)
            rows.append(
                (
                    r.sensor_pk,
                    r.room_id,
                    r.ts_ms,
                    dumps(values).decode(),
                    encoder.line(prefix, values, r.ts_ms),
                )
            )
            for name, value in values.items():
                key = (r.room_id, name)
                if key not in newest or r.ts_ms >= newest[key]["ts_ms"]:
                    newest[key] = {
                        "room_id": r.room_id,
                        "metric": name,
                        "ts_ms": r.ts_ms,
                        "value": value,
                        "sensor_pk": r.sensor_pk,
                    }
        self._insert_rows(conn, rows)
        conn.execute(self._upsert_latest, list(newest.values()))
        self.waiting += len(rows)

    def _insert_rows(self, conn: Connection, rows: list[tuple]) -> None:
        """Outbox rows; on SQLite as multi-row INSERTs (one statement steps once, executemany once a row)."""
        if self.engine.dialect.name != "sqlite":
            keys = ("sensor_pk", "room_id", "ts_ms", "payload", "line")
            conn.execute(self._insert_outbox, [dict(zip(keys, row, strict=True)) for row in rows])
            return
        for start in range(0, len(rows), 6000):  # 5 parameters a row, below SQLite's 32 766
            part = rows[start : start + 6000]
            conn.exec_driver_sql(
                "INSERT INTO influx_outbox (sensor_pk, room_id, ts_ms, payload, line) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?)"] * len(part))
                + " ON CONFLICT DO NOTHING",
                tuple(value for row in part for value in row),
            )

    # -- the outbox, for the drainer
    def next_batch(self, size: int) -> list[tuple[int, str]]:
        """The oldest waiting readings not refused for good: (outbox id, line)."""
        return next_lines(self.engine, influx_outbox, size)

    def confirm(self, ids: list[int]) -> None:
        """InfluxDB confirmed these: remove them from the outbox, keeping the keys of those within the
        duplicate window, in the same transaction."""
        o, window_start = influx_outbox.c, self.window_start_ms()
        with self.engine.begin() as conn:
            for start in range(0, len(ids), 5000):
                part = ids[start : start + 5000]
                if self.duplicate_window_ms:
                    keys = conn.execute(
                        select(o.sensor_pk, o.ts_ms, o.room_id).where(o.id.in_(part), o.ts_ms >= window_start)
                    ).all()
                    if keys:
                        conn.execute(
                            self._insert_sent,
                            [{"sensor_pk": k[0], "ts_ms": k[1], "room_id": k[2]} for k in keys],
                        )
                conn.execute(delete(influx_outbox).where(o.id.in_(part)))
        self.waiting = max(0, self.waiting - len(ids))

    def prune_sent_keys(self) -> int:
        """Forget the keys of readings older than the duplicate window (the drainer calls it now and then)."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(influx_sent_keys).where(influx_sent_keys.c.ts_ms < self.window_start_ms())
            )
            return gone.rowcount or 0

    def refuse(self, outbox_id: int, error: str) -> None:
        """InfluxDB refused this point for good: keep it, marked, out of the way of the others."""
        mark_refused(self.engine, influx_outbox, outbox_id, error)

    def refused(self) -> int:
        with self.engine.connect() as conn:
            stmt = select(func.count()).select_from(influx_outbox).where(influx_outbox.c.error.is_not(None))
            return int(conn.execute(stmt).scalar_one())

    def flush(self, batch: int = 5000) -> int:
        """Send everything waiting, blocking (the CLI and tests; the platform uses the drainer). Returns how
        many readings InfluxDB confirmed; raises InfluxError when it cannot take them."""
        if not self.http.ensure_database():
            raise InfluxError(f"InfluxDB at {self.http.url} cannot be reached")
        sent = 0
        for queue in (self, self.series):
            while rows := queue.next_batch(batch):
                self.http.write_sync([line for _, line in rows])
                queue.confirm([i for i, _ in rows])
                sent += len(rows)
        self.reachable = True
        return sent

    def counts_by_room(self) -> dict[int, int]:
        """Readings per room, as `count` counts them, in one query (the settings page's figures). A batch
        that InfluxDB has taken but the drainer has not yet deleted from the outbox counts twice for that
        moment: figures to show, not to reconcile."""
        counts: dict[int, int] = {}
        try:
            for s in self.http.query(
                f"SELECT count(*) FROM {ident(MEASUREMENT)} GROUP BY {ident('room_id')}"
            ):
                room_id = int(s["tags"]["room_id"])
                for row in s.get("values", []):
                    counts[room_id] = max((int(v) for v in row[1:] if v is not None), default=0)
        except InfluxError as exc:
            self._unreachable(exc)
        o = influx_outbox.c
        with self.engine.connect() as conn:
            for room_id, n in conn.execute(select(o.room_id, func.count()).group_by(o.room_id)):
                counts[room_id] = counts.get(room_id, 0) + int(n)
        return counts

    def delete_rooms(self, room_ids: list[int]) -> None:
        """Delete every point of these rooms (readings, scores, forecasts, actions), in InfluxDB and in the
        outboxes (a room being deleted: its id may be given to a new room). Raises InfluxError when InfluxDB
        cannot do it now."""
        where = " OR ".join(f"{ident('room_id')} = {literal(str(int(r)))}" for r in room_ids)
        try:
            self.http.execute(f"DELETE WHERE {where}")  # every measurement
        except InfluxError as exc:
            if "database not found" not in str(exc):  # nothing was ever written: nothing to delete
                raise
        with self.engine.begin() as conn:
            conn.execute(delete(influx_outbox).where(influx_outbox.c.room_id.in_(room_ids)))
            conn.execute(delete(influx_sent_keys).where(influx_sent_keys.c.room_id.in_(room_ids)))
        self.series.delete_rooms(room_ids)
        self.count_waiting()

    def close(self) -> None:
        self.http.close()

    # -- retention (services/rollups.py)
    def delete_before(self, cutoff_ms: int) -> int:
        """Delete raw readings older than `cutoff_ms` from InfluxDB (their rollups stay). InfluxDB does not
        say how many points went: returns 0."""
        self.http.execute(f"DELETE FROM {ident(MEASUREMENT)} WHERE time < {int(cutoff_ms)}ms")
        return 0
