"""Operator commands on a real database, with the platform running."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import httpx

from .conftest import ROOT, server_env
from .servers import platform


def run_cli(*args: str, data_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=server_env(IAQ_DATA_DIR=str(data_dir)),
        timeout=60,
    )


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
        assert httpx.post(srv.url + "/api/ingest", json=batch).status_code == 201
        result = run_cli("backup", "--to", str(tmp_path / "copy.db"), data_dir=data)
        assert result.returncode == 0, result.stderr
        assert "integrity ok" in result.stdout
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("SELECT count(*) FROM readings").fetchone()[0] == 500


def test_backup_without_a_database_says_so(tmp_path):
    result = run_cli("backup", data_dir=tmp_path / "empty")
    assert result.returncode == 1
    assert "nothing to back up" in result.stderr
