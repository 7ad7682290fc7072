"""`python -m app.cli migrate-store`: a site moves its history from SQLite to InfluxDB (and back) without
losing a reading, with progress, in as many runs as it takes."""

from __future__ import annotations

import sqlite3

from tests.support.data import run_cli
from tests.support.influx import influx_server
from tests.support.servers import platform

BATCH = [
    {
        "sensor_id": f"mv-{i % 4}",
        "enseigne": "Moving",
        "salle": f"Room {i % 2}",
        "timestamp": 1_760_000_000 + 60 * i,
        "values": {"co2": 400 + i, "humidity": 40 + i % 7},
    }
    for i in range(600)
]


def readings(server) -> list[tuple]:
    params = {
        "enseigne": "Moving",
        "raw": "true",
        "start": "1759990000",
        "end": "1760100000",
        "limit": 100000,
    }
    with server.client() as api:
        body = api.get("/api/v2/iaq/data", params=params).json()
    return sorted((r["sensor_id"], r["timestamp"], r["co2"], r["humidity"]) for r in body["data"])


def test_history_moves_to_influxdb_in_several_runs_and_back(tmp_path):
    data = tmp_path / "data"
    with influx_server() as influxd:
        env = {"INFLUXDB_URL": influxd.url, "INFLUXDB_BUCKET": "moved"}
        with platform(data) as srv:  # on SQLite
            with srv.client() as api:
                assert api.post("/api/ingest", json=BATCH).status_code == 200
            before = readings(srv)
        assert len(before) == 600

        first = run_cli("migrate-store", "--to", "influx", "--max", "250", data_dir=data, env=env)
        assert first.returncode == 0, first.stderr
        assert "250/600" in first.stdout and "run the same command again" in first.stdout
        assert "copied 250 readings" in first.stdout
        second = run_cli("migrate-store", "--to", "influx", data_dir=data, env=env)
        assert second.returncode == 0, second.stderr
        # progress counts this run's readings against what it had to copy, counted at its start
        assert "350/350 (100 %)" in second.stdout and "the history is in influxdb" in second.stdout
        assert "copied 350 readings" in second.stdout and "(600 in all runs of this copy)" in second.stdout
        again = run_cli("migrate-store", "--to", "influx", data_dir=data, env=env)
        assert "copied 0 readings" in again.stdout and "(600 in all runs" in again.stdout  # not 600 again
        points = influxd.points("moved")
        assert len(points) == 600 and len({(p["sensor_id"], p["time"]) for p in points}) == 600

        with platform(data, **env) as srv:  # the platform on InfluxDB shows the same history
            assert readings(srv) == before

        with sqlite3.connect(data / "iaqverse.db") as db:  # months on InfluxDB: SQLite's copy is long gone
            db.execute("DELETE FROM readings")
        result = run_cli("migrate-store", "--to", "sql", data_dir=data, env=env)
        assert result.returncode == 0, result.stderr
        assert "600/600" in result.stdout and "the history is in sql" in result.stdout
        with platform(data, **env, INFLUXDB_ENABLED="0") as srv:  # back on SQLite, nothing missing
            assert readings(srv) == before
