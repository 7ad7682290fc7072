"""The original product's clients against IAQverse, unchanged. Each check below is what a client of the
original (repository QT-IA/PFE-IAQverse, branch api_architecture_v2) does with an answer, written from its
code: the dashboard (`frontend/js/charts.js`, `tabs-manager.js`, `alerts-engine.js`), the WebSocket manager
(`frontend/js/websocket-manager.js`), and the ingestion script (`test_websocket.py`). A real server, real
HTTP and WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import websockets

from app.core.domain.modules import PRIORITIES
from tests.support.servers import platform

SITE, ROOM = "Maison", "Bureau"
METRICS = ("co2", "pm25", "tvoc", "temperature", "humidity")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    alerts_on = {"IAQ_ALERTS": "1", "IAQ_ALERT_INTERVAL": "3600"}
    with platform(tmp_path_factory.mktemp("original") / "data", **alerts_on) as srv:
        yield srv


def ingest_like_the_original_script(server, sensor: str, co2: float, at: datetime) -> httpx.Response:
    """test_websocket.py's `test_http_ingest`: capitalised metric names, `isoformat() + "Z"`."""
    measurement = {
        "sensor_id": sensor,
        "enseigne": SITE,
        "salle": ROOM,
        "timestamp": at.replace(tzinfo=None).isoformat() + "Z",
        "values": {"CO2": co2, "PM25": 15, "TVOC": 0.3, "Temperature": 22.5, "Humidity": 48},
    }
    return httpx.post(server.url + "/api/ingest", json=measurement)


@pytest.fixture(scope="module")
def last_hour(server):
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(10):
        at = now - timedelta(minutes=50 - i)
        answer = ingest_like_the_original_script(server, "bureau1", 600 + 10 * i, at)
        # the script's check: `if response.status_code == 200`, then it reads the JSON
        assert answer.status_code == 200
        body = answer.json()
        assert (body["status"], body["sensor_id"]) == ("success", "bureau1")
        assert body["message"] == "Mesure enregistrée" and body["timestamp"]
    return now


def dashboard_fetch(server, **params) -> list[dict]:
    """charts.js `fetchAndUpdate`: GET /api/iaq/data, `res.ok`, `Array.isArray(data)`, rows sorted by time."""
    answer = httpx.get(server.url + "/api/iaq/data", params=params)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert isinstance(data, list), "the dashboard draws nothing unless the answer is an array"
    for row in data:
        datetime.fromisoformat(row["timestamp"])  # `new Date(d.timestamp)`
    return data


def test_the_dashboard_draws_the_last_hour_of_a_room(server, last_hour):
    data = dashboard_fetch(server, enseigne=SITE, salle=ROOM, hours="1")
    assert data, "renderEmpty: the room's readings must be there"
    assert data == sorted(data, key=lambda d: d["timestamp"])
    # the five charts plot d.co2, d.pm25, d.tvoc, d.temperature, d.humidity
    for row in data:
        assert all(isinstance(row[m], int | float) for m in METRICS)
    assert max(row["co2"] for row in data) == pytest.approx(690, abs=5)
    # tabs-manager.js and the score gauge read the last row's `global_score` (a number) and `global_level`
    latest = data[-1]
    assert isinstance(latest["global_score"], int | float) and 0 <= latest["global_score"] <= 100
    assert isinstance(latest["global_level"], str)


def test_the_dashboard_before_a_room_is_chosen_sends_empty_names(server, last_hour):
    # URLSearchParams({enseigne: currentEnseigne || "", salle: currentSalle || ""}): empty means any
    assert dashboard_fetch(server, enseigne="", salle="", hours="1")


def test_raw_readings_and_the_original_steps(server, last_hour):
    raw = dashboard_fetch(server, raw="true", enseigne=SITE)  # api.js `measurementsRaw`
    assert [r["co2"] for r in raw][-10:] == [600 + 10 * i for i in range(10)]
    assert {(r["sensor_id"], r["enseigne"], r["salle"]) for r in raw} == {("bureau1", SITE, ROOM)}
    # `1min` asked the original for the readings as received, not per-minute means
    assert [r["co2"] for r in dashboard_fetch(server, enseigne=SITE, step="1min", hours="1")] == [
        r["co2"] for r in raw
    ]
    five = dashboard_fetch(server, enseigne=SITE, step="5min", hours="1")
    assert 2 <= len(five) <= 4 and all(isinstance(r["global_score"], int | float) for r in five)
    (day,) = dashboard_fetch(server, enseigne=SITE, step="daily", hours="1")[-1:]
    same_day = [r["co2"] for r in raw if r["timestamp"] >= day["timestamp"]]
    assert day["co2"] == pytest.approx(sum(same_day) / len(same_day), rel=0.01)
    assert dashboard_fetch(server, enseigne=SITE, step="weekly", hours="1")


def test_a_room_without_readings_is_an_empty_array_and_an_unknown_site_a_clear_404(server, last_hour):
    sites = httpx.get(server.url + "/api/config/sites").json()
    (site,) = [s for s in sites if s["name"] == SITE]
    made = httpx.post(f"{server.url}/api/config/sites/{site['id']}/rooms", json={"name": "Sans capteur"})
    assert made.status_code == 201, made.text
    # the charts call renderEmpty for []
    assert dashboard_fetch(server, enseigne=SITE, salle="Sans capteur", hours="1") == []
    # `!res.ok`: the dashboard logs the error, which names what is wrong (the original had no such check)
    unknown = httpx.get(server.url + "/api/iaq/data", params={"enseigne": "Nulle part", "hours": "1"})
    assert unknown.status_code == 404 and "Nulle part" in unknown.json()["error"]


def route(message: dict) -> tuple[str, dict] | None:
    """websocket-manager.js `onmessage`: pong is swallowed; a message with a `topic` goes to that topic's
    listeners with `data.data || data`; a `measurement` goes to the `measurements` listeners; the rest is
    ignored."""
    if message.get("type") == "pong":
        return None
    if message.get("topic"):
        return message["topic"], message.get("data") or message
    if message.get("type") == "measurement":
        return "measurements", message
    return None


def chart_point(measurement: dict) -> dict:
    """charts.js `handleWebSocketMeasurement`: `data.data || data`, a timestamp, numbers at the top level."""
    m = measurement.get("data") or measurement
    assert m.get("timestamp"), "Message WebSocket invalide"
    datetime.fromisoformat(m["timestamp"])
    return {k: m[k] for k in ("enseigne", "salle", "co2", "pm25", "tvoc", "temperature", "humidity")} | {
        "global_score": m.get("global_score")
    }


async def receive(ws, seconds: float = 10) -> list[dict]:
    """Every message for a few seconds, or until the socket has been quiet for one second."""
    messages, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), 1)))
        except TimeoutError:
            break
    return messages


async def rise_act(server, room: str, sensor: str) -> None:
    """A CO2 rise in a room that raises an alert, then an action on the room's ventilation and its state."""
    start = int(time.time()) - 20 * 60
    rise = [
        {
            "sensor_id": sensor,
            "enseigne": SITE,
            "salle": room,
            "timestamp": start + 60 * i,
            "values": {"co2": v},
        }
        for i, v in enumerate([700, 900, 1100, 1300, 1450, 1500, 1550, 1500, 1480, 1500])
    ]
    module = {"enseigne": SITE, "salle": room, "module_type": "ventilation"}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
        for reading in rise:
            assert (await api.post("/api/ingest", json=reading)).status_code == 200
        assert (await api.post("/api/modules", json=module)).status_code == 201
        turn_on = {**module, "action_type": "turn_on"}
        assert (await api.post("/api/execute-action", json=turn_on)).status_code == 200


@pytest.mark.parametrize("subscribes", [False, True], ids=["without subscribe", "after subscribe"])
async def test_the_websocket_manager_gets_every_message_type(server, last_hour, subscribes):
    async with websockets.connect(server.url.replace("http", "ws") + "/ws") as ws:
        greeting = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert greeting["type"] == "connection" and greeting["subscriptions"] == ["all"]
        assert route(greeting) is None  # the manager ignores it; nothing breaks
        if subscribes:  # the manager's `onopen`: subscribe to its default set, `measurements`
            await ws.send(json.dumps({"type": "subscribe", "topics": ["measurements"]}))
        sensor = f"ws-{int(subscribes)}"
        now = datetime.now(UTC)
        answer = await asyncio.to_thread(ingest_like_the_original_script, server, sensor, 640, now)
        assert answer.status_code == 200
        await rise_act(server, f"Salle {int(subscribes)}", f"{sensor}-r")
        await ws.send(json.dumps({"type": "ping"}))  # the manager's keep-alive
        messages = await receive(ws)
    kinds = {m["type"] for m in messages}
    assert {"measurement", "alert", "action", "module_state", "pong"} <= kinds, kinds
    routed = [r for r in map(route, messages) if r is not None]
    assert {topic for topic, _ in routed} == {"measurements"}  # nothing reaches a listener in the wrong shape
    mine = [chart_point(m) for topic, m in routed if m["sensor_id"] == sensor]
    (point,) = mine
    assert isinstance(point.pop("global_score"), int | float)
    expected = {"co2": 640, "pm25": 15, "tvoc": 0.3, "temperature": 22.5, "humidity": 48}
    assert point == {"enseigne": SITE, "salle": ROOM, **expected}
    # the other types carry the fields WEBSOCKET.md documents, at the top level
    for m in messages:
        if m["type"] in {"alert", "action", "module_state"}:
            assert m["timestamp"] and m["enseigne"] == SITE and "data" not in m
    (alert,) = [m for m in messages if m["type"] == "alert" and m.get("event") == "raised"]
    assert (alert["level"], alert["parameter"]) in {("warning", "co2"), ("danger", "co2")}
    assert alert["value"] >= 1000 and "co2" in alert["message"]
    action = next(m for m in messages if m["type"] == "action")
    assert (action["module_type"], action["action_type"]) == ("ventilation", "turn_on")
    assert action["priority"] in PRIORITIES
    state = next(m for m in messages if m["type"] == "module_state")
    assert state["module_type"] == "ventilation" and "state" in state


def test_the_original_config_endpoints_describe_the_registry(server, last_hour):
    # tabs-manager.js and the twin read config.lieux.enseignes[].pieces[] from GET /config
    config = httpx.get(server.url + "/config").json()
    (maison,) = [e for e in config["lieux"]["enseignes"] if e["nom"] == SITE]
    bureau = next(p for p in maison["pieces"] if p["nom"] == ROOM)
    assert "bureau1" in bureau["capteurs"] and bureau["id"] and maison["timezone"]
    locations = httpx.get(server.url + "/api/locations").json()
    assert ROOM in locations[SITE]
    sensors = httpx.get(server.url + "/api/sensors-config").json()["sensors"]
    assert {"enseigne": SITE, "salle": ROOM, "capteur_id": "bureau1", "piece_id": bureau["id"]} in sensors
    stats = httpx.get(server.url + "/api/ingest/stats").json()
    assert stats == {"influxdb_enabled": False, "websocket_enabled": True}


def test_the_legacy_format_at_the_path_the_originals_code_served(server):
    # backend/api/ingest.py: router prefix /api + "/iaq"; no capteur_id means "<salle>1"; nulls skipped
    body = {"timestamp": "2026-03-03T08:00:00Z", "co2": 700, "pm25": None, "enseigne": SITE, "salle": "Salon"}
    answer = httpx.post(server.url + "/api/iaq", json=body)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["sensor_id"]) == ("success", "Salon1")
    again = httpx.post(server.url + "/iaq", json=body)
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")  # the same reading, stored once
    window = {"start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z", "raw": "true"}
    (row,) = dashboard_fetch(server, enseigne=SITE, salle="Salon", **window)
    assert row["co2"] == 700 and row.get("pm25") is None  # a null metric is not a reading
