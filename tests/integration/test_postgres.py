"""The same platform on a real PostgreSQL server, chosen by DATABASE_URL alone (no code path of its own)."""

from __future__ import annotations

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import app.core.storage.sql_schema  # noqa: F401
from app.core.db.migrate import upgrade_to_head
from app.core.db.models import Base
from app.core.db.session import make_engine
from tests.support.postgres import postgres_server
from tests.support.servers import platform


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


def test_migrations_build_the_models_schema_on_postgres(pg_url):
    engine = make_engine(pg_url)
    upgrade_to_head(engine)
    upgrade_to_head(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ on PostgreSQL: {diff}"


def test_the_platform_runs_on_postgres_as_on_sqlite(pg_url, tmp_path):
    with platform(tmp_path / "data", DATABASE_URL=pg_url) as srv, httpx.Client(base_url=srv.url) as api:
        site = api.post("/api/config/sites", json={"name": "PG Paris", "timezone": "Europe/Paris"}).json()
        batch = [
            {
                "sensor_id": "pg-1",
                "enseigne": "PG Paris",
                "salle": "Lab",
                "timestamp": f"2026-07-01T10:0{m}:00",
                "values": {"co2": 500 + m, "no2": 3.5},
            }
            for m in range(6)
        ]
        assert api.post("/api/ingest", json=batch).status_code == 200
        again = api.post("/api/ingest", json=[*batch[4:], batch[0] | {"sensor_id": "pg-2"}])
        assert again.json()["duplicate_indices"] == [0, 1] and again.json()["stored"] == 1
        legacy = {
            "capteur_id": "pg-3",
            "enseigne": "PG Paris",
            "salle": "Lab",
            "co2": 900,
            "timestamp": "2026-07-01T08:30:00Z",
        }
        assert api.post("/iaq", json=legacy).status_code == 200
        day = {"enseigne": "PG Paris", "start": "2026-07-01T00:00:00Z", "end": "2026-07-02T00:00:00Z"}
        raw = api.get("/api/v2/iaq/data", params={**day, "raw": "true", "sensor_id": "pg-1"}).json()["data"]
        assert [r["timestamp"] for r in raw][:2] == ["2026-07-01T08:00:00Z", "2026-07-01T08:01:00Z"]  # UTC+2
        assert raw[0]["no2"] == 3.5
        agg = api.get("/api/v2/iaq/data", params={**day, "step": "5min", "metrics": "co2,no2"}).json()["data"]
        first = agg[0]
        assert first["timestamp"] == "2026-07-01T08:00:00Z"
        assert first["stats"]["co2"]["count"] == 6 and first["no2"] == 3.5  # pg-1 x5 + pg-2 in 08:00-08:05
        daily = api.get("/api/v2/iaq/data", params={**day, "step": "1d"}).json()["data"]
        assert sum(d["stats"]["co2"]["count"] for d in daily) == 8
        csv_lines = api.get(
            "/api/v2/iaq/data", params={**day, "raw": "true", "format": "csv"}
        ).text.splitlines()
        assert len(csv_lines) == 1 + 8
        score = api.get("/api/predict/score", params={"enseigne": "PG Paris", "salle": "Lab"})
        assert score.status_code == 200
        room = (
            site
            and next(s for s in api.get("/api/config/sites").json() if s["name"] == "PG Paris")["rooms"][0]
        )
        assert room["readings"] == 8
        assert api.delete(f"/api/config/sites/{site['id']}").status_code == 409
        assert (
            api.delete(f"/api/config/sites/{site['id']}", params={"cascade": "true"}).json()["readings"] == 8
        )


def test_past_one_machine_postgresql_registry_and_influxdb_series_together(pg_url, tmp_path):
    """The configuration for several instances (docs/architecture.md): the registry and the outbox on
    PostgreSQL, the readings in InfluxDB. A reading goes through the outbox into InfluxDB once, reads back
    through the API, and a duplicate is recognised as with either store alone."""
    from tests.support.influx import influx_server
    from tests.support.influxdb import influx_env, raw, reading, stored_keys
    from tests.support.waiting import wait_for

    with (
        influx_server() as influxd,
        platform(tmp_path / "data", DATABASE_URL=pg_url, **influx_env(influxd, "scaled")) as srv,
        srv.client() as api,
    ):
        answer = api.post("/api/ingest", json=[reading(i, site="PG Influx") for i in range(5)])
        assert answer.status_code == 200, answer.text
        assert api.post("/api/ingest", json=reading(2, site="PG Influx")).json()["duplicates"] == 1
        wait_for(lambda: len(stored_keys(influxd, "scaled")) == 5, "5 readings in InfluxDB")
        storage = wait_for(
            lambda: (check := api.get("/health").json()["checks"]["storage"])["waiting"] == 0 and check,
            "the outbox (on PostgreSQL) emptied",
        )
        assert storage["backend"] == "influxdb"
        assert [r["co2"] for r in raw(api, "PG Influx")["data"]] == [400 + i for i in range(5)]
        sites = api.get("/api/config/sites").json()
        assert "PG Influx" in [s["name"] for s in sites]  # registered in PostgreSQL on first sight
