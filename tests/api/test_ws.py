"""/ws with a real WebSocket client against a real server, in the original product's protocol: a new
connection is greeted and receives every topic; messages are flat (fields at the top level, as the original's
`charts.js` and `websocket-manager.js` read them); subscribe/unsubscribe/ping; `/ws/stats`."""

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


async def next_of_type(ws, kind: str, sensor: str | None = None, timeout: float = 5) -> dict:  # noqa: ASYNC109
    """The next message of that type (with `sensor`: that sensor's next measurement)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if message["type"] == kind and (sensor is None or message["sensor_id"] == sensor):
            return message


async def post(server, body) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as client:
        return await client.post("/api/ingest", json=body)


async def only(ws, topics: list[str], **narrow) -> None:
    """Receive only these topics (the original's way: drop `all`, then subscribe)."""
    await ws.send(json.dumps({"type": "unsubscribe", "topics": ["all"]}))
    await next_of_type(ws, "subscribed")
    await ws.send(json.dumps({"type": "subscribe", "topics": topics, **narrow}))
    await next_of_type(ws, "subscribed")


async def test_a_new_connection_is_greeted_and_receives_readings_as_the_original_sent_them(server):
    async with websockets.connect(ws_url(server)) as ws:
        greeting = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert greeting["type"] == "connection" and greeting["status"] == "connected"
        assert greeting["subscriptions"] == ["all"] and greeting["timestamp"].endswith("Z")
        # the original's test_websocket.py reading, capitalised metric names included
        reading = {
            "sensor_id": "test_sensor",
            "enseigne": "Maison WS",
            "salle": "Bureau",
            "timestamp": "2026-03-02T09:30:00Z",
            "values": {"CO2": 650, "PM25": 15, "TVOC": 0.3, "Temperature": 22.5, "Humidity": 48},
        }
        answer = await post(server, reading)
        assert answer.status_code == 200 and answer.json()["status"] == "success"
        message = await next_of_type(ws, "measurement", "test_sensor")
        assert (message["enseigne"], message["salle"]) == ("Maison WS", "Bureau")
        assert message["timestamp"] == "2026-03-02T09:30:00Z"  # the reading's time, as the original
        # charts.js plots measurement.co2, .pm25, .tvoc, .temperature, .humidity
        tops = {k: message[k] for k in ("co2", "pm25", "tvoc", "temperature", "humidity")}
        assert tops == {"co2": 650, "pm25": 15, "tvoc": 0.3, "temperature": 22.5, "humidity": 48}
        assert message["values"] == tops
        assert "data" not in message and "topic" not in message  # websocket-manager.js would mis-route it
        assert 0 <= message["global_score"] <= 100 and message["global_level"]


async def test_subscription_can_be_narrowed_to_one_room(server):
    async with websockets.connect(ws_url(server)) as ws:
        await only(ws, ["measurements"], enseigne="WS", salle="Wanted")
        await post(
            server,
            [
                {"sensor_id": "ws-2", "enseigne": "WS", "salle": "Other", "values": {"co2": 500}},
                {"sensor_id": "ws-3", "enseigne": "WS", "salle": "Wanted", "values": {"co2": 600}},
            ],
        )
        message = await next_of_type(ws, "measurement")
        assert message["salle"] == "Wanted" and message["co2"] == 600


async def test_after_unsubscribing_all_only_the_named_topics_arrive(server):
    async with websockets.connect(ws_url(server)) as ws:
        await only(ws, ["alerts"])
        await post(server, {"sensor_id": "ws-4", "enseigne": "WS", "salle": "Quiet", "values": {"co2": 500}})
        await ws.send(json.dumps({"type": "ping"}))
        assert (await next_of_type(ws, "pong")) == {"type": "pong"}  # and no measurement came before it
        await ws.send(json.dumps({"type": "subscribe", "topics": ["measurements"]}))
        assert (await next_of_type(ws, "subscribed"))["topics"] == ["alerts", "measurements"]


async def test_errors_are_explained(server):
    async with websockets.connect(ws_url(server)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "topics": ["weather"]}))
        error = await next_of_type(ws, "error")
        assert "weather" in error["message"] and "measurements" in error["message"]
        await ws.send("not json")
        assert (await next_of_type(ws, "error"))["message"] == "send JSON messages"
        await ws.send(json.dumps({"type": "dance"}))
        assert "subscribe, unsubscribe, ping" in (await next_of_type(ws, "error"))["message"]


async def test_ws_stats_counts_the_connections_and_their_topics(server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = (await http.get("/ws/stats")).json()
        async with websockets.connect(ws_url(server)) as one, websockets.connect(ws_url(server)) as two:
            await next_of_type(one, "connection")
            await only(two, ["alerts", "measurements"])
            stats = (await http.get("/ws/stats")).json()
    assert stats["total_connections"] == stats["active_connections"] == before["total_connections"] + 2
    assert stats["subscriptions"]["all"] == before["subscriptions"]["all"] + 1
    assert stats["subscriptions"]["alerts"] == before["subscriptions"]["alerts"] + 1


async def test_a_client_that_never_reads_does_not_block_ingestion(server):
    # A client connects and then never reads; ingestion must go on at full pace for everybody else.
    async with (
        websockets.connect(ws_url(server), max_queue=4, close_timeout=1) as stalled,
        websockets.connect(ws_url(server)) as healthy,
    ):
        for ws in (stalled, healthy):
            await next_of_type(ws, "connection")
        last_seen = asyncio.create_task(next_of_type(healthy, "measurement", "ws-last", timeout=60))
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
            assert (await post(server, day)).status_code == 200
        await post(
            server, {"sensor_id": "ws-last", "enseigne": "WS", "salle": "Last", "values": {"co2": 777}}
        )
        assert (await last_seen)["values"] == {"co2": 777}


def test_backlog_beyond_the_limit_marks_the_client_for_closing():
    from app.api.ws import _Client
    from app.core.bus import Measurement

    client = _Client(100)
    batch = [(Measurement("s", "Site", "Room", 1, i, {"co2": 400.0}), "{}") for i in range(60)]
    client.on_measurements(batch)
    assert client.pending == 60 and not client.overflowed.is_set()
    client.on_measurements(batch)  # 120 > 100 waiting: the client is not keeping up
    assert client.overflowed.is_set()
