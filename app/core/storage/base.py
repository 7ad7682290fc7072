"""The time-series port: what every store (embedded SQL, InfluxDB) offers the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection


class StoreBusy(RuntimeError):
    """The store cannot take more now (e.g. the outbox is at its bound); the client should retry later."""


class StoredReading(NamedTuple):
    """A validated reading bound to registry rows, ready to store."""

    sensor_pk: int
    room_id: int
    ts_ms: int
    values: dict[str, float]


@dataclass(slots=True)
class RawRow:
    room_id: int
    sensor_pk: int
    ts_ms: int
    values: dict[str, float]


@dataclass(slots=True)
class Bucket:
    """Aggregates of one room over [ts_ms, ts_ms + step)."""

    room_id: int
    ts_ms: int
    stats: dict[str, tuple[float, float, float, int]] = field(
        default_factory=dict
    )  # metric -> sum, min, max, count (sums merge, means do not)


@dataclass(slots=True)
class LatestValue:
    room_id: int
    metric: str
    ts_ms: int
    value: float
    sensor_pk: int


class SeriesSink(Protocol):
    """Where a store takes the other series (`iaq_scores`, `iaq_forecast`, `iaq_actions`) that it keeps
    besides the SQL tables: InfluxDB's second outbox. Rows are (room id, a line of line protocol)."""

    def add(self, rows: list[tuple[int | None, str]]) -> None: ...


class StoreRefused(RuntimeError):
    """The time-series store refuses the platform (wrong credentials): starting would lose nothing but be
    useless, so the platform stops with this message."""


class TimeSeriesStore(Protocol):
    backend: str  # "sql" or "influxdb"
    series: SeriesSink | None  # None: the other series live in their SQL tables only
    engine: Any  # the registry's database (the outbox lives there too)

    def existing_keys(self, conn: Connection, keys: list[tuple[int, int]]) -> set[tuple[int, int]]:
        """Which (sensor_pk, ts_ms) pairs are stored already (called inside the ingest transaction)."""

    def stage(self, conn: Connection, readings: list[StoredReading]) -> None:
        """Write readings inside the caller's transaction; they are durable when it commits."""

    def query_raw(
        self,
        room_ids: list[int],
        start_ms: int,
        end_ms: int,
        *,
        sensor_pks: list[int] | None,
        limit: int,
        after: tuple[int, int, int] | None = None,
    ) -> list[RawRow]:
        """Readings in time order, at most `limit`; `after`: (ts_ms, room_id, sensor_pk) of the last seen."""

    def query_buckets(
        self,
        room_ids: list[int],
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        sensor_pks: list[int] | None,
        metrics: list[str],
    ) -> list[Bucket]: ...

    def latest(self, room_ids: list[int] | None = None) -> list[LatestValue]: ...

    def count(
        self, room_ids: list[int] | None = None, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> int: ...

    def prepare(self) -> None:
        """Before the platform starts: check what can be checked (InfluxDB's credentials); raise StoreRefused
        with what to fix when the store refuses the platform. A store that cannot be reached is no reason to
        refuse: readings wait for it."""

    def read_status(self) -> dict[str, Any] | None:
        """None when reads are complete; else what a reader should know (part of the span missing)."""

    def delete_before(self, cutoff_ms: int) -> int:
        """Delete raw readings older than `cutoff_ms` (their rollups stay); how many, where known."""

    def flush(self) -> int:
        """Send what waits to reach the store (blocking), for the CLI and tests; how many readings went."""

    def close(self) -> None: ...
