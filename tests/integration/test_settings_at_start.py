"""Settings that take effect when the platform starts, each on a platform process of its own: the first
admin's password, device-key rates, sign-in throttling and CORS, deployment score thresholds (and bad ones
that stop the start), automatic registration off."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.env import ADMIN_PASSWORD, ROOT, server_env
from tests.support.servers import device_key, platform


def sign_in(server, name: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=server.anonymous_url, timeout=10, headers={"Origin": server.anonymous_url})
    answer = client.post("/api/auth/login", json={"name": name, "password": password})
    assert answer.status_code == 200, answer.text
    return client


def reading(site: str, sensor: str, minute: int = 0) -> dict:
    when = f"2026-03-01T10:{minute:02d}:00Z"
    return {"sensor_id": sensor, "enseigne": site, "salle": "R", "timestamp": when, "values": {"co2": 600}}


def stored(api, site: str) -> int:
    window = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}
    return api.get("/api/v2/iaq/data", params={"enseigne": site, "raw": "true", **window}).json()["count"]


def office_reading(site: str, sensor: str | None = None) -> dict:
    now = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    return {"sensor_id": sensor or f"{site}-s1", "enseigne": site, "salle": "Office", "timestamp": now,
            "values": {"CO2": 645, "PM25": 12}}  # fmt: skip


def test_device_key_rate_limit_login_throttling_and_configured_cors(tmp_path):
    env = {
        "IAQ_DEVICE_KEY_RATE": "0.01",
        "IAQ_DEVICE_KEY_BURST": "2",
        "IAQ_LOGIN_MAX_FAILURES": "3",
        "IAQ_CORS_ORIGINS": "https://dashboard.example",
    }
    with platform(tmp_path / "data", **env) as srv, httpx.Client(base_url=srv.url, timeout=10) as api:
        preflight = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
        allowed = httpx.options(
            srv.anonymous_url + "/api/v2/iaq/data",
            headers={"Origin": "https://dashboard.example", **preflight},
        )
        assert allowed.headers["access-control-allow-origin"] == "https://dashboard.example"
        other = httpx.options(
            srv.anonymous_url + "/api/v2/iaq/data", headers={"Origin": "https://x.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers
        key = device_key(api, "Fast")
        send = [
            httpx.post(
                srv.anonymous_url + "/api/ingest", json=reading("Fast", "f", m), headers={"X-API-Key": key}
            )
            for m in range(3)
        ]
        assert [a.status_code for a in send] == [200, 200, 429]
        assert int(send[2].headers["retry-after"]) >= 1
        assert stored(api, "Fast") == 2
        with httpx.Client(base_url=srv.anonymous_url, timeout=10) as browser:
            wrong = [
                browser.post(
                    "/api/auth/login", json={"name": "admin", "password": "wrong-password"}
                ).status_code
                for _ in range(3)
            ]
            assert wrong == [401, 401, 401]
            locked = browser.post("/api/auth/login", json={"name": "admin", "password": ADMIN_PASSWORD})
            assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        failures = [e for e in api.get("/api/auth/audit").json() if e["action"] == "login.failed"]
        assert len(failures) == 3 and all(e["actor"] == "admin" for e in failures)


def test_first_start_without_a_password_prints_a_random_one_once(tmp_path):
    env = {"IAQ_ADMIN_PASSWORD": "", "IAQ_LOG_LEVEL": "WARNING"}
    with platform(tmp_path / "data", **env) as srv:
        log = srv.log()
        found = re.search(r"account 'admin' with the password (\S+) \(shown once", log)
        assert found, log
        with closing(sign_in(srv, "admin", found.group(1))) as admin:
            assert admin.get("/api/auth/me").json()["role"] == "admin"
    with platform(tmp_path / "data", **env) as again:
        assert "with the password" not in again.log()


def test_deployment_thresholds_from_the_settings_apply_and_bad_ones_stop_the_start(tmp_path):
    reading = {"sensor_id": "dep-1", "enseigne": "Dep", "salle": "R", "values": {"co2": 970}}
    with platform(tmp_path / "a", IAQ_SCORE_THRESHOLDS='{"outdoor_co2_ppm": 300}') as srv:
        assert httpx.post(srv.url + "/api/ingest", json=reading).status_code == 200
        body = httpx.get(srv.url + "/api/predict/score", params={"enseigne": "Dep", "salle": "R"}).json()
        assert body["sub_scores"]["co2"]["score"] < 80  # 670 ppm above 300: past category I's 550
    bad = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=server_env(IAQ_DATA_DIR=str(tmp_path / "b"), IAQ_SCORE_THRESHOLDS='{"co2": 5}'),
    )
    assert bad.returncode != 0
    assert "IAQ_SCORE_THRESHOLDS" in bad.stderr and "co2" in bad.stderr


def test_without_auto_registration_unknown_sites_are_refused(tmp_path):
    with platform(tmp_path / "noauto", IAQ_AUTO_REGISTER="0") as srv, httpx.Client(base_url=srv.url) as api:
        answer = api.post("/api/ingest", json=office_reading("Nowhere"))
        assert answer.status_code == 422
        assert "automatic registration is off" in answer.json()["detail"][0]["problem"]
        site = api.post("/api/config/sites", json={"name": "Registered"}).json()
        room = api.post(f"/api/config/sites/{site['id']}/rooms", json={"name": "Office"}).json()
        assert api.put("/api/config/sensors/reg-1", json={"room_id": room["id"]}).status_code == 200
        answer = api.post("/api/ingest", json=office_reading("Registered", sensor="reg-1"))
        assert answer.status_code == 200, answer.text
