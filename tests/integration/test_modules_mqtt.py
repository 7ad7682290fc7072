"""Modules over a real MQTT broker (mosquitto started by the tests): commands reach devices with QoS 1, their
reported states acknowledge them, silence fails them with an alert, a broker restart is survived, and MQTT
sensors' readings are stored like REST ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.core.settings import Settings
from app.runtime import Runtime, build_runtime
from tests.support.mosquitto import FakeDevice, mosquitto_server, publish
from tests.support.runtimes import settled_history, turn_on
from tests.support.waiting import until


@pytest.fixture
def broker():
    with mosquitto_server() as server:
        yield server


def make_runtime(data_dir: Path, broker, **overrides) -> Runtime:
    settings = Settings(
        data_dir=data_dir,
        score_interval_s=0,
        mqtt_broker=broker.host,
        mqtt_port=broker.port,
        **overrides,
    )
    runtime = build_runtime(settings)
    runtime.start()
    return runtime


@pytest.fixture
async def rt(tmp_path, broker):
    runtime = make_runtime(tmp_path / "data", broker, command_timeout_s=5)
    await until(lambda: runtime.devices.connected, "the bridge to connect")
    await runtime.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                    "values": {"co2": 600}})  # fmt: skip
    yield runtime
    await runtime.stop()


@pytest.fixture
def key(rt) -> str:
    """A device key of the site Maison, as its MQTT sensors carry in each reading."""
    return rt.device_keys.create_sync("Maison", "mqtt sensors", new_site_timezone="Europe/Paris").secret


async def test_command_reaches_the_device_and_its_reported_state_acknowledges_it(rt, broker):
    module = await rt.modules.add_module("Maison", "Bureau", "ventilation")
    assert module["topic"] == "iaqverse/maison/bureau/ventilation"
    async with FakeDevice(broker, module["topic"]) as device:
        answer = await rt.modules.execute(turn_on(requested_by="alice"))
        action = answer["actions"][0]
        assert action["status"] == "pending"
        await until(lambda: rt.modules.module(module["id"]).state == {"on": True}, "the reported state")
    assert device.commands[0]["state"] == {"on": True} and device.qos == [1]
    [stored] = await settled_history(rt, "Maison", "Bureau")
    assert stored["status"] == "acknowledged" and stored["requested_by"] == "alice"
    assert stored["reason"] == {"pollutant": "CO2", "value": 1200, "level": "high"}
    assert rt.modules.module(module["id"]).state_by == "alice"


async def test_a_device_that_does_not_answer_fails_the_command_and_raises_an_alert(tmp_path, broker):
    runtime = make_runtime(tmp_path / "data", broker, command_timeout_s=0.5, alerts_enabled=True)
    try:
        await until(lambda: runtime.devices.connected, "the bridge to connect")
        await runtime.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                        "values": {"co2": 600}})  # fmt: skip
        module = await runtime.modules.add_module("Maison", "Bureau", "ventilation")
        events: list[dict] = []
        runtime.bus.alerts.subscribe(events.append)
        async with FakeDevice(broker, module["topic"], silent=True) as device:
            await runtime.modules.execute(turn_on())
            await until(lambda: events, "an alert")
        assert device.commands, "the command reached the device, which kept silent"
        [action] = await runtime.modules.history("Maison", "Bureau")
        assert action["status"] == "failed" and "no state report" in action["error"]
        assert events[0]["event"] == "raised" and events[0]["metric"] == "module:ventilation"
        assert runtime.modules.module(module["id"]).state == {"on": False}  # unchanged: nobody confirmed

        async with FakeDevice(broker, module["topic"]):  # the device is back: the next command clears it
            await runtime.modules.execute(turn_on())
            await until(lambda: len(events) == 2, "the alert to be resolved")
        assert events[1]["event"] == "resolved"
    finally:
        await runtime.stop()


async def test_the_bridge_reconnects_after_a_broker_restart_and_later_commands_arrive(rt, broker):
    module = await rt.modules.add_module("Maison", "Bureau", "ventilation")
    async with FakeDevice(broker, module["topic"]) as device:
        await rt.modules.execute(turn_on())
        await until(
            lambda: rt.modules.module(module["id"]).state == {"on": True}, "the first acknowledgement"
        )
        connects, device_connects = rt.devices.connects, device.connects
        broker.restart()
        await until(lambda: rt.devices.connects > connects and rt.devices.connected, "a reconnection", 30)
        await until(lambda: device.connects > device_connects, "the device back on the broker", 30)
        answer = await rt.modules.execute(turn_on(action_type="turn_off"))
        await until(lambda: rt.modules.module(module["id"]).state == {"on": False}, "the state after restart")
    assert device.commands[-1]["action_id"] == answer["actions"][0]["id"]
    statuses = [a["status"] for a in await settled_history(rt, "Maison", "Bureau")]
    assert statuses == ["acknowledged", "acknowledged"]
    assert rt.workers["mqtt"].healthy and rt.workers["mqtt"].restarts == 0
    # resubscribed: a state the device reports now still reaches the registry
    await publish(broker, f"{module['topic']}/state", {"on": True}, retain=True)
    await until(lambda: rt.modules.module(module["id"]).state == {"on": True}, "a state after resubscribing")
    # every change the device reported over MQTT is in the state history forecasting learns from
    for _ in range(100):  # the registry's memory changes first, the row is written just after
        changes = await rt.modules.state_changes(module["id"])
        if len(changes) >= 4:
            break
        await asyncio.sleep(0.05)
    assert [(c["state"], c["ventilation"]) for c in reversed(changes)] == [
        ({"on": False}, 0.0),
        ({"on": True}, 1.0),
        ({"on": False}, 0.0),
        ({"on": True}, 1.0),
    ]


async def test_mqtt_sensor_readings_are_stored_like_rest_ones(rt, broker, key):
    seen: list = []
    rt.bus.measurements.subscribe(lambda batch: seen.extend(batch))
    reading = {"enseigne": "Maison", "salle": "Bureau", "timestamp": "2026-11-27T10:00:00Z",
               "values": {"co2": 812, "pm25": 4.2}, "api_key": key}  # fmt: skip
    await publish(broker, "iaqverse/maison/bureau/sensors/mqtt-1", reading)
    await publish(broker, "iaqverse/maison/bureau/sensors/mqtt-1", reading)  # QoS 1 may deliver twice
    await until(lambda: any(m.sensor_id == "mqtt-1" for m in seen), "the MQTT reading")
    assert rt.store.count() == 2  # the REST reading of the fixture and one MQTT reading, not two
    [m] = [m for m in seen if m.sensor_id == "mqtt-1"]
    assert m.values == {"co2": 812.0, "pm25": 4.2} and m.site == "Maison" and m.room == "Bureau"


async def refusal(broker, sensor: str, reading: dict) -> str:
    """Publish a reading and return the reason the platform answers on the sensor's error topic."""
    import json

    import aiomqtt

    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"iaqverse/maison/bureau/sensors/{sensor}/error", qos=1)
        await client.publish(f"iaqverse/maison/bureau/sensors/{sensor}", json.dumps(reading), qos=1)
        message = await asyncio.wait_for(anext(aiter(client.messages)), 10)
    return json.loads(message.payload)["error"]


async def test_a_refused_mqtt_reading_is_answered_on_its_error_topic(rt, broker, key):
    reading = {"enseigne": "Maison", "salle": "Bureau", "values": {"co2": -5}, "api_key": key}
    assert "co2" in await refusal(broker, "bad-1", reading)
    assert rt.store.count() == 1


async def test_mqtt_readings_need_a_device_key_of_their_own_site(rt, broker, key):
    reading = {"enseigne": "Maison", "salle": "Bureau", "values": {"co2": 650}}
    assert "device key" in await refusal(broker, "nokey-1", reading)
    assert "unknown or revoked" in await refusal(broker, "nokey-2", {**reading, "api_key": "iaqk_forged"})
    other_site = rt.device_keys.create_sync("Bureau Paris", new_site_timezone="Europe/Paris").secret
    assert "Bureau Paris" in await refusal(broker, "nokey-3", {**reading, "api_key": other_site})
    assert rt.store.count() == 1  # only the fixture's REST reading


async def test_a_key_cannot_write_into_a_sensor_assigned_to_another_sites_room(rt, broker, key):
    """The body names the key's own site, but the registry puts the sensor in another site's room: refused,
    and nothing stored (the registry's assignment decides where a reading goes)."""
    await rt.ingestion.ingest({"sensor_id": "theirs-1", "enseigne": "Bureau Paris", "salle": "Open space",
                               "values": {"co2": 500}})  # fmt: skip
    before = rt.store.count()
    reading = {"enseigne": "Maison", "salle": "Bureau", "values": {"co2": 1999}, "api_key": key}
    problem = await refusal(broker, "theirs-1", reading)
    assert "not in a room of it" in problem and "Bureau Paris" not in problem
    assert rt.store.count() == before
    # a message mixing an own sensor and the other site's is refused for that key as a whole
    both = [{**reading, "sensor_id": "s1"}, {**reading, "sensor_id": "theirs-1"}]
    assert "not in a room of it" in await refusal(broker, "s1", both)
    assert rt.store.count() == before


async def test_health_reports_a_lost_broker_as_degraded_until_it_is_back(rt, broker):
    assert (await rt.health.check())["checks"]["mqtt"]["status"] == "ok"
    broker.stop()
    await until(lambda: not rt.devices.connected, "the bridge to notice")
    mqtt = (await rt.health.check())["checks"]["mqtt"]
    assert mqtt["status"] == "degraded" and mqtt["last_error"]
    broker.start()
    await until(lambda: rt.devices.connected, "the reconnection", 30)
    assert (await rt.health.check())["checks"]["mqtt"]["status"] == "ok"


async def test_a_sensor_publishing_with_mosquitto_pub_is_stored(rt, broker, key):
    import json
    import shutil
    import subprocess

    client = shutil.which("mosquitto_pub")
    assert client, "mosquitto_pub is missing: apt-get install mosquitto-clients"
    reading = {"enseigne": "Maison", "salle": "Bureau", "values": {"co2": 700}, "api_key": key}
    topic = "iaqverse/maison/bureau/sensors/cli-1"
    args = [
        client,
        "-h",
        broker.host,
        "-p",
        str(broker.port),
        "-q",
        "1",
        "-t",
        topic,
        "-m",
        json.dumps(reading),
    ]
    await asyncio.to_thread(subprocess.run, args, check=True, timeout=10)
    await until(lambda: rt.store.count() == 2, "the reading from mosquitto_pub")


async def test_a_batch_without_site_and_room_takes_them_from_its_topic(rt, broker, key):
    batch = [
        {"timestamp": f"2026-11-27T10:0{i}:00Z", "values": {"co2": 700 + i}, "api_key": key} for i in range(3)
    ]
    await publish(broker, "iaqverse/maison/bureau/sensors/topic-1", batch)
    await until(lambda: rt.store.count() == 4, "the batch")
    sensors = {s["sensor_id"]: s for s in await rt.config.list_sensors()}
    assert "topic-1" in sensors
    # names that match no room are refused with a reason, nothing is stored
    await publish(broker, "iaqverse/nowhere/attic/sensors/topic-2", {"values": {"co2": 500}, "api_key": key})
    await asyncio.sleep(0.5)
    assert rt.store.count() == 4


def test_an_unreachable_broker_degrades_health_but_leaves_the_instance_ready(tmp_path):
    """A broker shared by every instance going away must not take them all out of a load balancer: /health
    says degraded (503), /health/ready stays 200 while readings are still taken."""
    import httpx

    from tests.support.servers import free_port, platform

    with platform(tmp_path / "data", MQTT_BROKER="127.0.0.1", MQTT_PORT=str(free_port())) as srv:
        with httpx.Client(base_url=srv.url, timeout=10) as api:
            assert api.get("/health").status_code == 503
            assert api.get("/health").json()["checks"]["mqtt"]["status"] == "degraded"
            ready = api.get("/health/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"
            reading = {"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau", "values": {"co2": 600}}
            assert api.post("/api/ingest", json=reading).status_code == 200
        assert httpx.get(srv.anonymous_url + "/health/ready").json() == {"status": "ready"}
