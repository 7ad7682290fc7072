"""/ws with a real WebSocket client against a real server: the seed's subscribe protocol."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tests.support.servers import platform


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with platform(tmp_path_factory.mktemp("ws") / "data", IAQ_WS_QUEUE="3000") as srv:
        yield srv


def ws_url(server) -> str:
    return server.url.replace("http", "ws") + "/ws"


async def next_of_type(ws, kind: str, timeout: float = 5) -> dict:  # noqa: ASYNC109
    """The next message of that type; `measurement_<sensor>` waits for that sensor's measurement."""
    deadline = time.monotonic() + timeout
    kind, _, sensor = kind.partition("_")
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if message["type"] == kind and (
            not sensor or message["data"]["sensor_id"] == sensor.replace("_", "-")
        ):
            return message


async def post(server, body) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as client:
        return await client.post("/api/ingest", json=body)


async def test_subscriber_receives_a_new_reading_right_after_it_is_stored(server):
    async with websockets.connect(ws_url(server)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "topics": ["measurements", "predictions", "actions"]}))
        ack = await next_of_type(ws, "subscribed")
        assert ack["topics"] == ["actions", "measurements", "predictions"]
        answer = await post(
            server,
            {"sensor_id": "ws-1", "enseigne": "WS", "salle": "Live", "values": {"co2": 1234, "pm25": 7}},
        )
        assert answer.status_code == 201
        message = await next_of_type(ws, "measurement")
        assert message["data"]["sensor_id"] == "ws-1"
        assert message["data"]["enseigne"] == "WS" and message["data"]["salle"] == "Live"
        assert message["data"]["values"] == {"co2": 1234, "pm25": 7}


async def test_subscription_can_be_narrowed_to_one_room(server):
    async with websockets.connect(ws_url(server)) as ws:
        await ws.send(
            json.dumps({"type": "subscribe", "topics": ["measurements"], "enseigne": "WS", "salle": "Wanted"})
        )
        await next_of_type(ws, "subscribed")
        await post(
            server,
            [
                {"sensor_id": "ws-2", "enseigne": "WS", "salle": "Other", "values": {"co2": 500}},
                {"sensor_id": "ws-3", "enseigne": "WS", "salle": "Wanted", "values": {"co2": 600}},
            ],
        )
        message = await next_of_type(ws, "measurement")
        assert message["data"]["salle"] == "Wanted"


async def test_no_measurements_before_subscribing_and_errors_are_explained(server):
    async with websockets.connect(ws_url(server)) as ws:
        await post(server, {"sensor_id": "ws-4", "enseigne": "WS", "salle": "Quiet", "values": {"co2": 500}})
        await ws.send(json.dumps({"type": "subscribe", "topics": ["weather"]}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert error["type"] == "error" and "weather" in error["message"]
        await ws.send("not json")
        assert (await next_of_type(ws, "error"))["message"] == "send JSON messages"
        await ws.send(json.dumps({"type": "ping"}))
        await next_of_type(ws, "pong")


async def test_a_client_that_never_reads_does_not_block_ingestion(server):
    # A client subscribes and then never reads; ingestion must go on at full pace for everybody else.
    async with (
        websockets.connect(ws_url(server), max_queue=4, close_timeout=1) as stalled,
        websockets.connect(ws_url(server)) as healthy,
    ):
        for ws in (stalled, healthy):
            await ws.send(json.dumps({"type": "subscribe", "topics": ["measurements"]}))
            await next_of_type(ws, "subscribed")
        last_seen = asyncio.create_task(next_of_type(healthy, "measurement_ws_last", timeout=60))
        batch = [
            {
                "sensor_id": f"flood-{i % 20}",
                "enseigne": "WS",
                "salle": "Flood",
                "timestamp": f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "values": {"co2": 400 + i % 100},
            }
            for i in range(1000)
        ]
        for k in range(5):
            day = [{**r, "timestamp": r["timestamp"].replace("01T", f"{k + 1:02d}T")} for r in batch]
            assert (await post(server, day)).status_code == 201
        await post(
            server, {"sensor_id": "ws-last", "enseigne": "WS", "salle": "Last", "values": {"co2": 777}}
        )
        assert (await last_seen)["data"]["values"] == {"co2": 777}


def test_backlog_beyond_the_limit_marks_the_client_for_closing():
    from app.api.ws import _Client
    from app.core.bus import Measurement
    from app.core.settings import Settings

    class _Runtime:
        settings = Settings(IAQ_WS_QUEUE=100)

    client = _Client(_Runtime())
    client.topics.add("measurements")
    batch = [Measurement("s", "Site", "Room", 1, i, {"co2": 400.0}) for i in range(60)]
    client.on_measurements(batch)
    assert client.pending == 60 and not client.overflowed.is_set()
    client.on_measurements(batch)  # 120 > 100 waiting: the client is not keeping up
    assert client.overflowed.is_set()
