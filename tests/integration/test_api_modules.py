"""The seed's module contract over HTTP against a real platform process connected to a real mosquitto:
`GET /api/room-modules`, `POST /api/execute-action`, `GET /api/modules/states`, and `/ws` messages
`action` and `module_state` when a device on the broker reports."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets

from tests.support.mosquitto import FakeDevice, mosquitto_server, publish
from tests.support.servers import platform

TOPIC = "iaqverse/maison/bureau/ventilation"


@pytest.fixture(scope="module")
def broker():
    with mosquitto_server() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory, broker):
    env = {"MQTT_BROKER": broker.host, "MQTT_PORT": str(broker.port), "IAQ_COMMAND_TIMEOUT": "5"}
    with platform(tmp_path_factory.mktemp("modules") / "data", **env) as srv:
        yield srv


@pytest.fixture(scope="module")
def room(server):
    import httpx

    with httpx.Client(base_url=server.url, timeout=10) as client:
        reading = {"sensor_id": "m-1", "enseigne": "Maison", "salle": "Bureau", "values": {"co2": 900}}
        assert client.post("/api/ingest", json=reading).status_code in (200, 200)
        for module_type in ("ventilation", "purificateur"):
            answer = client.post("/api/modules", json={"enseigne": "Maison", "salle": "Bureau",
                                                       "module_type": module_type})  # fmt: skip
            assert answer.status_code == 201, answer.text
    return "Bureau"


def action(**extra) -> dict:
    reason = {"pollutant": "CO2", "value": 1200, "level": "high"}
    return {"enseigne": "Maison", "salle": "Bureau", "module_type": "ventilation", "action_type": "turn_on",
            "priority": "high", "reason": reason, **extra}  # fmt: skip


def test_room_modules_lists_each_module_with_its_state_and_actions(api, room):
    answer = api.get("/api/room-modules", params={"enseigne": "Maison", "salle": "Bureau"})
    assert answer.status_code == 200
    modules = {m["module_type"]: m for m in answer.json()["modules"]}
    assert set(modules) == {"ventilation", "purifier"}
    assert modules["ventilation"]["topic"] == TOPIC
    assert "turn_on" in modules["ventilation"]["actions"] and modules["purifier"]["available"] is True
    assert api.get("/api/room-modules", params={"enseigne": "Maison", "salle": "Cave"}).status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"module_type": "teleporter"}, 422, "module_type"),
        ({"action_type": "fly"}, 422, "action_type"),
        ({"action_type": "set_level", "value": 9}, 422, "value"),
        ({"priority": "whenever"}, 422, "priority"),
        ({"reason": "because"}, 422, "reason"),
        ({"module_type": "window", "action_type": "open"}, 404, "no module of type 'window'"),
        ({"salle": "Cave"}, 404, "Cave"),
        ({"enseigne": None}, 422, "enseigne"),
    ],
)
def test_execute_action_refuses_what_cannot_be_done_with_a_message(api, room, change, status, field):
    answer = api.post("/api/execute-action", json=action(**change))
    assert answer.status_code == status, answer.text
    assert field in answer.json()["error"]


def test_duplicate_module_name_is_a_conflict(api, room):
    answer = api.post("/api/modules", json={"enseigne": "Maison", "salle": "Bureau", "module_type": "vmc"})
    assert answer.status_code == 409 and "ventilation" in answer.json()["error"]


async def test_an_action_reaches_the_device_and_its_state_comes_back_to_ws_and_the_states(api, room, server,
                                                                                         broker):  # fmt: skip
    async with (
        FakeDevice(broker, TOPIC) as device,
        websockets.connect(server.url.replace("http", "ws") + "/ws") as ws,
    ):
        assert json.loads(await ws.recv())["type"] == "connection"  # and every topic from now on
        answer = await asyncio.to_thread(api.post, "/api/execute-action", json=action(requested_by="alice"))
        assert answer.status_code == 200, answer.text
        [sent] = answer.json()["actions"]
        assert sent["status"] == "pending" and sent["module_type"] == "ventilation"
        messages = await receive_until(ws, lambda m: m["type"] == "module_state" and m["state"]["on"])
        assert device.commands[-1]["action_id"] == sent["id"]
        statuses = [m["status"] for m in messages if m["type"] == "action"]
        assert statuses[:1] == ["pending"]
        if "acknowledged" not in statuses:
            await receive_until(ws, lambda m: m["type"] == "action" and m["status"] == "acknowledged")

        # a state the device reports on its own (someone pressed its button) reaches /ws and the registry
        await publish(broker, f"{TOPIC}/state", {"on": False}, retain=True)
        await receive_until(ws, lambda m: m["type"] == "module_state" and m["state"] == {"on": False})
    states = api.get("/api/modules/states", params={"enseigne": "Maison"}).json()["states"]
    ventilation = states["Maison"]["Bureau"]["ventilation"]
    assert ventilation["state"] == {"on": False} and ventilation["changed_by"] == "device"
    history = api.get("/api/actions", params={"enseigne": "Maison", "salle": "Bureau"}).json()
    # the button press is in the action history, as the device's own change
    assert (history[0]["status"], history[0]["source"], history[0]["desired"]) == (
        "reported",
        "device",
        {"on": False},
    )
    assert history[1]["status"] == "acknowledged" and history[1]["requested_by"] == "admin for alice"
    assert (
        history[1]["reason"]["pollutant"] == "CO2"
    )  # who asked is the signed-in account, on behalf of alice
    assert api.get("/api/modules/states").json()["states"].keys() == {"Maison"}
    # what it did over time, as forecasting reads it: switched on by the command, off by its button
    rooms = api.get("/api/room-modules", params={"enseigne": "Maison", "salle": "Bureau"}).json()
    module_id = next(m["id"] for m in rooms["modules"] if m["topic"] == TOPIC)
    changes = api.get(f"/api/modules/{module_id}/state-history").json()
    assert [(c["state"]["on"], c["ventilation"]) for c in changes[:2]] == [(False, 0.0), (True, 1.0)]
    assert api.get("/api/modules/999999/state-history").status_code == 404


async def test_a_device_going_offline_shows_as_unavailable(api, room, server, broker):
    await publish(broker, "iaqverse/maison/bureau/purifier/availability", "offline", retain=True)
    deadline = time.monotonic() + 10
    while True:
        states = (await asyncio.to_thread(api.get, "/api/modules/states")).json()["states"]
        if states["Maison"]["Bureau"]["purifier"]["available"] is False:
            break
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.05)


def test_automation_settings_are_checked_field_by_field(api, room):
    params = {"enseigne": "Maison", "salle": "Bureau"}
    assert api.get("/api/automation", params=params).json()["mode"] == "off"
    bad = api.put("/api/automation", params=params, json={"mode": "sometimes"})
    assert bad.status_code == 422 and "mode" in bad.json()["error"]
    flap = api.put("/api/automation", params=params, json={"co2_off_ppm": 1200})
    assert flap.status_code == 422 and "co2_off_ppm" in flap.json()["error"]
    assert api.get("/api/automation", params=params).json()["co2_off_ppm"] == 750
    good = api.put("/api/automation", params=params, json={"mode": "recommend", "min_on_s": 600})
    assert good.status_code == 200 and good.json()["mode"] == "recommend"


async def receive_until(ws, done, timeout_s: float = 10) -> list[dict]:
    messages, deadline = [], time.monotonic() + timeout_s
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        messages.append(message)
        if done(message):
            return messages
