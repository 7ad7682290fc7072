"""What the tests of the platform on InfluxDB share: settings, readings at fixed times, what it holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from .influx import InfluxServer

BASE = datetime(2026, 2, 3, 8, 0, tzinfo=UTC)


def influx_env(server: InfluxServer, db: str, **extra: str) -> dict[str, str]:
    return {"INFLUXDB_URL": server.url, "INFLUXDB_BUCKET": db, "IAQ_OUTBOX_BACKOFF_MAX": "0.5", **extra}


def reading(i: int, sensor: str = "inf-1", site: str = "Influx HQ", room: str = "Lab") -> dict:
    ts = (BASE + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
    return {"sensor_id": sensor, "enseigne": site, "salle": room, "timestamp": ts, "values": {"co2": 400 + i}}


def stored_keys(server: InfluxServer, db: str) -> list[tuple[str, int]]:
    try:
        return [(p["sensor_id"], p["time"]) for p in server.points(db)]
    except httpx.HTTPStatusError:
        return []


def raw(api: httpx.Client, site: str, **params) -> dict:
    answer = api.get(
        "/api/v2/iaq/data",
        params={"enseigne": site, "raw": "true", "start": "2026-02-01", "end": "2026-02-10", **params},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()
