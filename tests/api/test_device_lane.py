"""The device lane's HTTP path (app/api/lane.py) against a real server process: the HTTP cases it hands back
to uvicorn or handles itself answer as any request to the platform does, and acknowledged means stored."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from tests.support.env import ADMIN_TOKEN
from tests.support.servers import platform, raw_http


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with platform(tmp_path_factory.mktemp("lane") / "data", IAQ_MAX_BODY_BYTES="20000") as srv:
        yield srv


def reading(site: str, sensor: str, co2: float = 700) -> dict:
    return {
        "sensor_id": sensor,
        "enseigne": site,
        "salle": "Office",
        "timestamp": datetime.now(UTC).isoformat(),
        "values": {"co2": co2},
    }


def stored(api, site: str) -> list[dict]:
    answer = api.get("/api/v2/iaq/data", params={"enseigne": site, "raw": "true", "hours": 1})
    return answer.json()["data"] if answer.status_code == 200 else []


def post(path: str, body: bytes, *, close: bool = False, version: str = "1.1") -> bytes:
    head = f"POST {path} HTTP/{version}\r\nHost: test\r\nContent-Type: application/json\r\n"
    head += f"X-API-Key: {ADMIN_TOKEN}\r\n"  # admin token: writes for any site
    head += f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    return head.encode() + body


def test_chunked_body_is_stored(api):
    body = json.dumps(reading("Chunked", "ch-1")).encode()
    answer = api.post(
        "/api/ingest", content=iter([body[:20], body[20:]]), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    assert [row["co2"] for row in stored(api, "Chunked")] == [700]


def test_chunked_body_over_the_limit_is_413_and_nothing_is_stored(api):
    body = json.dumps([reading("Huge", f"h-{i}") for i in range(40)] + [{"padding": "x" * 20_000}])
    chunks = [body[i : i + 4000].encode() for i in range(0, len(body), 4000)]
    answer = api.post("/api/ingest", content=iter(chunks), headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert "20000 bytes" in answer.json()["error"]
    assert stored(api, "Huge") == []
    assert api.post("/api/ingest", json=reading("After", "after-1")).status_code == 200  # still serving


def test_pipelined_requests_are_answered_in_order_and_all_stored(server, api):
    requests = [
        post("/api/ingest", json.dumps(reading("Piped", "p-1", 500)).encode()),
        post(
            "/iaq",
            json.dumps({"capteur_id": "p-2", "enseigne": "Piped", "salle": "Office", "co2": 600}).encode(),
        ),
        b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n",
        post("/api/ingest", b'{"sensor_id": "p-3"', close=True),
    ]
    answer = raw_http(server.url, b"".join(requests))
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]
    assert statuses == [200, 200, 200, 400]
    assert sorted(row["co2"] for row in stored(api, "Piped")) == [500, 600]


def test_http_1_0_request_is_answered_and_the_connection_closed(server, api):
    answer = raw_http(
        server.url, post("/api/ingest", json.dumps(reading("Old", "old-1")).encode(), version="1.0")
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in answer.lower()
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["stored"] == 1
    assert len(stored(api, "Old")) == 1


def test_other_methods_on_the_ingest_path_are_405(api):
    answer = api.get("/api/ingest")
    assert answer.status_code == 405


def test_ingest_requests_are_counted_in_the_latency_metric(api):
    def count() -> float:
        labels = ('method="POST"', 'route="/api/ingest"', 'status="200"')
        for line in api.get("/metrics").text.splitlines():
            if line.startswith("iaq_http_request_duration_seconds_count") and all(x in line for x in labels):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    for i in range(3):
        assert api.post("/api/ingest", json=reading("Timed", f"t-{i}")).status_code == 200
    assert count() == before + 3
