"""Shared fixtures. Every test gets its own data folder; demo mode and alerting are off
unless a test turns them on. Servers are real processes on free loopback ports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
# Authentication is on in every test: the first admin gets this password and this personal access token
# (IAQ_ADMIN_PASSWORD, IAQ_ADMIN_TOKEN), and the shared clients below send them. A test of refusal uses an
# anonymous client explicitly (`anonymous_url`, `create_user`).
ADMIN_PASSWORD = "admin-password-of-the-tests"
ADMIN_TOKEN = "iaqp_test-admin-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("IAQ_DATA_DIR", str(data))
    monkeypatch.setenv("IAQ_DEMO", "0")
    monkeypatch.setenv("IAQ_STORAGE_SECRET", "test-secret")
    monkeypatch.setenv("IAQ_ALERTS", "0")  # alerting is evaluated only where a test turns it on
    monkeypatch.setenv("IAQ_RAW_RETENTION_DAYS", "0")  # tests use fixed past dates; retention tests set it
    monkeypatch.setenv("IAQ_FORECASTING", "0")  # no trainer or predictor unless a test turns them on
    monkeypatch.setenv("IAQ_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("IAQ_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # a developer's .env in the project must not leak into tests
    return data


BROWSER_ORIGIN = "http://test"  # NiceGUI's simulated users talk to http://test; browsers send their Origin


@pytest.fixture
def create_user(create_user):
    """NiceGUI's factory of simulated users, whose HTTP client sends the page's `Origin` as a browser does
    (changes made with a session cookie need it: app/auth/middleware.py)."""

    def make():
        made = create_user()
        made.http_client.headers["Origin"] = BROWSER_ORIGIN
        return made

    return make


@pytest.fixture
async def user(user):
    """NiceGUI's simulated user (the plugin's fixture), signed in as the first admin through the sign-in API,
    so page tests run with authentication on. `create_user` makes further users, not signed in.
    Its HTTP client also sends the admin's token as `X-API-Key`, which only the device lane (`/api/ingest`,
    `/iaq`) reads: sessions do not reach that lane."""
    user.http_client.headers["Origin"] = BROWSER_ORIGIN
    response = await user.http_client.post(
        "/api/auth/login", json={"name": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    user.http_client.headers["X-API-Key"] = ADMIN_TOKEN
    return user


@pytest.fixture
def runtime(user):
    """The runtime of the `user` fixture's app; started (migrated, writer running) before the first page."""
    from nicegui import app

    assert app.state.runtime.started, "the runtime must be started when the app serves its first request"
    return app.state.runtime


@pytest.fixture
def api(server):
    """An HTTP client of the module's `server` fixture (a real platform process), acting as the admin
    (`server.url` carries the admin's token)."""
    import httpx

    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def server_env(**overrides: str) -> dict[str, str]:
    """Environment for a platform subprocess: this one, minus pytest's marker (NiceGUI changes behaviour
    under pytest), plus the overrides."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = str(ROOT)
    env.update(overrides)
    return env
