"""The time-series stores under test: the same contract for the SQL tables and for InfluxDB behind its
outbox (`store`, parametrised), and readings put as ingestion puts them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from app.core.db.migrate import upgrade_to_head
from app.core.db.models import Room, Sensor, Site
from app.core.db.session import make_engine
from app.core.domain.timesteps import to_ms
from app.core.storage.base import StoredReading
from app.core.storage.influx import InfluxTimeSeriesStore
from app.core.storage.influx_http import InfluxHttp
from app.core.storage.sql import SqlTimeSeriesStore

from .influx import influx_server

H = 3600_000


T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def influxd():
    with influx_server() as server:
        yield server


@pytest.fixture(params=["sql", "influxdb"])
def store(request, tmp_path):
    """The same contract for every time-series store: the SQL tables, and InfluxDB behind its outbox."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ts.db'}")
    upgrade_to_head(engine)
    with engine.begin() as conn:
        conn.execute(insert(Site).values(id=1, name="Paris", timezone="Europe/Paris"))
        conn.execute(insert(Room).values(id=1, site_id=1, name="A"))
        conn.execute(insert(Room).values(id=2, site_id=1, name="B"))
        conn.execute(insert(Sensor).values(id=1, sensor_id="s1", room_id=1))
        conn.execute(insert(Sensor).values(id=2, sensor_id="s2", room_id=2))
    if request.param == "sql":
        yield SqlTimeSeriesStore(engine)
    else:
        server = request.getfixturevalue("influxd")
        http = InfluxHttp(server.url, f"t{uuid.uuid4().hex[:12]}")
        yield InfluxTimeSeriesStore(engine, http)
        http.close()
    engine.dispose()


def put(store, *rows: tuple[int, int, datetime, dict], send: bool = True) -> None:
    """Store readings as ingestion does (what is stored already is kept); with InfluxDB, `send` them from the
    outbox too (as the drainer)."""
    batch = [StoredReading(sensor, room, to_ms(ts), values) for sensor, room, ts, values in rows]
    with store.engine.begin() as conn:
        existing = store.existing_keys(conn, [(r.sensor_pk, r.ts_ms) for r in batch])
        store.stage(conn, [r for r in batch if (r.sensor_pk, r.ts_ms) not in existing])
    if send and hasattr(store, "flush"):
        store.flush()
