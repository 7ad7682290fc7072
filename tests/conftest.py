"""Shared fixtures. Every test gets its own data folder; demo mode and alerting are off unless a test turns
them on. Servers are real processes on free loopback ports.

Tests are laid out by kind, and each folder's tests carry its marker (`pytest -m unit`, `make test-fast`
runs `unit` and `api`): `unit` (pure logic, and services in a runtime built in the test process on a real
SQLite file), `api` (a real platform process over HTTP and WebSocket), `pages` (NiceGUI's simulated user),
`integration` (real servers: influxd, mosquitto, PostgreSQL, an OpenID Connect provider, SMTP, other
processes), `browser` (headless Chromium). Helpers shared by tests and benchmarks are in `tests/support`.
A test of many cases or processes is also marked `slow`: `make test-fast` leaves those out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.env import ADMIN_PASSWORD, ADMIN_TOKEN, BROWSER_ORIGIN

KINDS = ("unit", "api", "pages", "integration", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with the kind of its folder."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        kind = next((k for k in KINDS if k in parts), None)
        if kind is not None:
            item.add_marker(getattr(pytest.mark, kind))


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
