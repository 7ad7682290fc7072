"""Operator commands on a real database, with the platform running."""

from __future__ import annotations

import sqlite3

import httpx

from tests.support.data import run_cli
from tests.support.servers import platform


def test_init_db_creates_the_schema(tmp_path):
    result = run_cli("init-db", data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "data" / "iaqverse.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sites", "rooms", "sensors", "readings", "latest_values"} <= tables


def test_backup_while_running_holds_every_acknowledged_reading(tmp_path):
    data = tmp_path / "data"
    with platform(data) as srv:
        batch = [
            {
                "sensor_id": "bk-1",
                "enseigne": "Backup",
                "salle": "R",
                "timestamp": 1_760_000_000 + i,
                "values": {"co2": 400 + i},
            }
            for i in range(500)
        ]
        assert httpx.post(srv.url + "/api/ingest", json=batch).status_code == 200
        result = run_cli("backup", "--to", str(tmp_path / "copy.db"), data_dir=data)
        assert result.returncode == 0, result.stderr
        assert "integrity ok" in result.stdout
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("SELECT count(*) FROM readings").fetchone()[0] == 500


def test_backup_without_a_database_says_so(tmp_path):
    result = run_cli("backup", data_dir=tmp_path / "empty")
    assert result.returncode == 1
    assert "nothing to back up" in result.stderr


def count_readings(url: str, site: str) -> int:
    params = {"enseigne": site, "raw": "true", "start": "1759999000", "end": "1760010000", "limit": 100000}
    return httpx.get(url + "/api/v2/iaq/data", params=params).json()["count"]


def test_restore_brings_back_the_backup_and_keeps_the_replaced_database(tmp_path):
    data = tmp_path / "data"
    batch = [
        {
            "sensor_id": "rs-1",
            "enseigne": "Restore",
            "salle": "R",
            "timestamp": 1_760_000_000 + i,
            "values": {"co2": 400 + i},
        }
        for i in range(300)
    ]
    with platform(data) as srv:
        assert httpx.post(srv.url + "/api/ingest", json=batch[:100]).status_code == 200
        assert run_cli("backup", "--to", str(tmp_path / "b.db"), data_dir=data).returncode == 0
        assert httpx.post(srv.url + "/api/ingest", json=batch[100:]).status_code == 200
        busy = run_cli("restore", str(tmp_path / "b.db"), "--yes", data_dir=data, port=srv.port)
        assert busy.returncode == 1 and "stop it before restoring" in busy.stderr
    result = run_cli("restore", str(tmp_path / "b.db"), "--yes", data_dir=data)
    assert result.returncode == 0, result.stderr
    kept = list(data.glob("iaqverse.db.before-restore-*"))
    assert len(kept) == 1
    with platform(data) as srv:
        assert count_readings(srv.url, "Restore") == 100  # the state of the backup
    with sqlite3.connect(kept[0]) as db:
        assert db.execute("SELECT count(*) FROM readings").fetchone()[0] == 300  # nothing lost for good


def test_restore_refuses_a_damaged_file_and_changes_nothing(tmp_path):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    result = run_cli("restore", str(broken), "--yes", data_dir=tmp_path / "data")
    assert result.returncode == 1
    assert "not a sound database" in result.stderr
    assert not (tmp_path / "data" / "iaqverse.db").exists()
