"""Nothing acknowledged is lost: SIGKILL the server right after acknowledged writes, restart, find all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.servers import PlatformProcess


async def _hammer(url: str, clients: int, per_client: int) -> list[tuple[str, str]]:
    acknowledged: list[tuple[str, str]] = []
    base = datetime(2026, 1, 10, tzinfo=UTC)

    async def one_client(n: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for i in range(per_client):
                ts = (base + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
                body = {
                    "sensor_id": f"dur-{n}",
                    "enseigne": "Durable",
                    "salle": f"Room {n % 3}",
                    "timestamp": ts,
                    "values": {"co2": 400 + i},
                }
                answer = await client.post("/api/ingest", json=body)
                if answer.status_code == 200:
                    acknowledged.append((f"dur-{n}", ts))

    await asyncio.gather(*(one_client(n) for n in range(clients)))
    return acknowledged


def test_acknowledged_readings_survive_sigkill(tmp_path):
    server = PlatformProcess(tmp_path / "data").start()
    try:
        acknowledged = asyncio.run(_hammer(server.url, clients=16, per_client=25))
        server.kill()  # no shutdown handler runs: only what was committed can survive
    finally:
        server.kill()
    assert len(acknowledged) == 16 * 25

    restarted = PlatformProcess(tmp_path / "data").start()
    try:
        rows = httpx.get(
            restarted.url + "/api/v2/iaq/data",
            params={
                "enseigne": "Durable",
                "raw": "true",
                "start": "2026-01-10T00:00:00Z",
                "end": "2026-01-11T00:00:00Z",
                "limit": 100000,
            },
        ).json()["data"]
    finally:
        restarted.stop()
    stored = {(r["sensor_id"], r["timestamp"]) for r in rows}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged readings were lost, e.g. {sorted(missing)[:3]}"
    assert len(rows) == len(stored)  # and none twice
