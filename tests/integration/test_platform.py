"""The platform as an operator meets it: health, metrics, demo mode, the simulator, settings, image."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
from nicegui.testing import User

from app.core.settings import Settings
from tests.support.env import ROOT, server_env
from tests.support.servers import platform


async def test_health_is_ok_then_503_when_ingestion_stops(user: User, runtime) -> None:
    answer = await user.http_client.get("/health")
    assert answer.status_code == 200
    assert answer.json()["checks"]["database"]["status"] == "ok"
    await runtime.ingestion.stop()
    answer = await user.http_client.get("/health")
    assert answer.status_code == 503
    assert answer.json()["checks"]["ingestion"] == {"status": "degraded", "state": "stopped"}
    refused = await user.http_client.post(
        "/api/ingest", json={"sensor_id": "x", "enseigne": "S", "salle": "R", "values": {"co2": 500}}
    )
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5", refused.text


async def test_metrics_count_accepted_rejected_and_commits(user: User, runtime) -> None:
    good = {"sensor_id": "m1", "enseigne": "Metrics", "salle": "R", "values": {"co2": 500}}
    assert (await user.http_client.post("/api/ingest", json=good)).status_code == 200
    assert (
        await user.http_client.post("/api/ingest", json=good | {"values": {"co2": -1}})
    ).status_code == 422
    text = (await user.http_client.get("/metrics")).text
    assert 'iaq_readings_accepted_total{source="api"} 1.0' in text
    assert 'iaq_readings_rejected_total{reason="invalid",source="api"} 1.0' in text
    assert re.search(r"iaq_commit_batch_readings_count \d", text)
    assert 'route="/api/ingest"' in text
    assert "iaq_ws_subscribers 0.0" in text


def test_demo_mode_registers_two_sites_and_keeps_the_data_moving(tmp_path):
    with platform(
        tmp_path / "data", IAQ_DEMO="1", IAQ_DEMO_INTERVAL="0.2", IAQ_DEMO_BACKFILL_HOURS="1"
    ) as srv:
        deadline = time.monotonic() + 20
        while True:
            sites = httpx.get(srv.url + "/api/config/sites").json()
            counts = [r["readings"] for s in sites for r in s["rooms"]]
            if len(counts) == 3 and min(counts) >= 62:  # 60 backfilled + live ones
                break
            assert time.monotonic() < deadline, f"demo did not produce live readings: {sites}"
            time.sleep(0.3)
        assert {(s["name"], s["timezone"]) for s in sites} == {
            ("Head office", "Europe/Paris"),
            ("Lyon store", "Europe/Paris"),
        }
        first = httpx.get(srv.url + "/api/v2/iaq/data", params={"hours": 0.05, "raw": "true"}).json()["count"]
        time.sleep(1)
        later = httpx.get(srv.url + "/api/v2/iaq/data", params={"hours": 0.05, "raw": "true"}).json()["count"]
        assert later > first
        health = httpx.get(srv.url + "/health").json()
        assert health["checks"]["worker:simulator"]["status"] == "ok"


def run_simulator(url: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "services.simulator", "--url", url, *args]
    return subprocess.run(command, cwd=ROOT, env=server_env(), capture_output=True, text=True, timeout=60)


def test_simulator_command_feeds_a_running_platform(tmp_path):
    with platform(tmp_path / "data") as srv:
        run = run_simulator(srv.url, "--rooms", "3", "--interval", "0.05", "--count", "4")
        assert run.returncode == 0, run.stderr
        rows = httpx.get(srv.url + "/api/v2/iaq/data", params={"raw": "true", "hours": 1}).json()["data"]
        assert len(rows) == 12
        assert {r["salle"] for r in rows} == {"Open space", "Meeting room", "Sales floor"}


def test_replay_of_a_real_recording_is_stored_like_live_readings(tmp_path):
    from tests.support.env import DATASETS

    recording = DATASETS / "rice130-awair" / "2022-04-14"
    assert recording.exists(), f"the shared data sets are expected in {DATASETS}"
    with platform(tmp_path / "data") as srv:
        run = run_simulator(
            srv.url, "--replay", str(recording), "--format", "awair", "--speed", "100000", "--count", "3"
        )
        assert run.returncode == 0, run.stdout + run.stderr
        rows = httpx.get(
            srv.url + "/api/v2/iaq/data", params={"enseigne": "Campus", "raw": "true", "hours": 2}
        ).json()["data"]
        assert rows, run.stdout
        assert {r["salle"] for r in rows} == {"Rice 130"}
        assert all(300 < r["co2"] < 3000 for r in rows if "co2" in r)


def test_env_example_documents_every_setting():
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    names = {alias for field in Settings.model_fields.values() for alias in field.validation_alias.choices}
    assert names - documented == set(), "settings missing from .env.example"
    assert documented - names == set(), ".env.example documents settings that do not exist"


def test_original_environment_variable_names_are_kept(monkeypatch):
    monkeypatch.setenv("INFLUXDB_URL", "http://influx:8086")
    monkeypatch.setenv("MQTT_BROKER", "broker")
    monkeypatch.setenv("ML_PREDICTOR_INTERVAL", "120")
    settings = Settings()
    assert settings.influxdb_url == "http://influx:8086"
    assert settings.mqtt_broker == "broker"
    assert settings.ml_predictor_interval_s == 120
    assert settings.port == 8080


def test_dockerfile_copies_what_exists_and_runs_the_make_run_command():
    text = (ROOT / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", text, re.MULTILINE):
        *sources, _target = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
    assert 'CMD ["python", "-m", "app"]' in text
    assert "-m app" in (ROOT / "Makefile").read_text()  # make run starts the same module
    user = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user and user[-1] not in {"root", "0"}
    assert "HEALTHCHECK" in text and "/health" in text
    assert 'VOLUME ["/data"]' in text and "IAQ_DATA_DIR=/data" in text
    ignored = (ROOT / ".gitignore").read_text().split()
    for source in ("app", "pages", "components", "services", "migrations", "static", "assets"):
        assert any((ROOT / source).rglob("*")), f"{source}/ is empty: git would not keep it"
        assert source + "/" not in ignored


def test_replay_keeps_the_good_readings_of_a_batch_with_a_glitch(tmp_path):
    recording = tmp_path / "glitch.csv"
    lines = ["timestamp,co2,humidity,light,pir,temperature"]
    lines += [f"2013-08-23 10:{m:02d}:00,{500 + m},45,100,0,{394 if m == 3 else 22.5}" for m in range(10)]
    recording.write_text("\n".join(lines) + "\n")
    with platform(tmp_path / "data") as srv:
        run = run_simulator(
            srv.url, "--replay", str(recording), "--format", "smart-building", "--speed", "1000"
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "394" in run.stderr  # the operator sees which reading was refused and why
        rows = httpx.get(srv.url + "/api/v2/iaq/data", params={"raw": "true", "hours": 1}).json()["data"]
        assert sorted(r["co2"] for r in rows) == [500 + m for m in range(10) if m != 3]


def test_a_copy_of_env_example_starts_with_the_documented_defaults(monkeypatch):
    for name in re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.port == 8080 and settings.demo is False and settings.score_thresholds is None
    assert settings.database_url is None
    assert settings.db_url.endswith("iaqverse.db")
