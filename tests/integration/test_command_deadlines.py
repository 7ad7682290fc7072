"""Commands have a deadline, against a real mosquitto that keeps sessions across restarts: a command the
platform reported as failed never reaches the device later (not from the bridge's outbox after a broker
outage, nor from the broker's queue for a device that was away), and a device that later reports, on its
own, the state a failed command asked for resolves the "did not answer" alert, after a restart too."""

from __future__ import annotations

import asyncio

import pytest

from app.core.settings import Settings
from app.runtime import build_runtime
from tests.support.mosquitto import FakeDevice, mosquitto_server
from tests.support.runtimes import settled_history, turn_on
from tests.support.waiting import until

TIMEOUT_S = 1.0


@pytest.fixture
def broker():
    with mosquitto_server(persistence=True) as server:
        yield server


def start(data_dir, broker):
    settings = Settings(
        data_dir=data_dir, score_interval_s=0, mqtt_broker=broker.host, mqtt_port=broker.port,
        command_timeout_s=TIMEOUT_S, alerts_enabled=True,
    )  # fmt: skip
    runtime = build_runtime(settings)
    runtime.start()
    return runtime


@pytest.fixture
async def rt(tmp_path, broker):
    runtime = start(tmp_path / "data", broker)
    await until(lambda: runtime.devices.connected, "the bridge to connect")
    await runtime.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                    "values": {"co2": 600}})  # fmt: skip
    yield runtime
    await runtime.stop()


async def open_failures(runtime) -> list[dict]:
    return [
        a for a in await runtime.alerting.list_alerts(state="open") if a["metric"] == "module:ventilation"
    ]


async def failed_with_an_alert(runtime, module_id: int) -> None:
    """Wait until the command has failed and its alert is raised (a moment after the pending mark goes)."""
    await until(lambda: runtime.modules.pending_desired(module_id) is None, "the command to fail", 10)
    statuses: list[str] = []
    for _ in range(200):
        statuses = [a["status"] for a in await runtime.modules.history("Maison", "Bureau")]
        if statuses and statuses[0] == "failed" and await open_failures(runtime):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no failure with an alert: {statuses}")


async def test_a_command_that_failed_during_a_broker_outage_is_never_sent_after_it(rt, broker):
    module = await rt.modules.add_module("Maison", "Bureau", "ventilation")
    async with FakeDevice(broker, module["topic"], persistent=True) as device:
        connects = device.connects
        broker.stop()
        await until(lambda: not rt.devices.connected, "the bridge to notice the outage")
        [action] = (await rt.modules.execute(turn_on()))["actions"]
        assert action["status"] == "pending"
        await failed_with_an_alert(rt, module["id"])
        [failed] = await rt.modules.history("Maison", "Bureau")
        assert failed["status"] == "failed" and "will not be sent later" in failed["error"]
        assert len(await open_failures(rt)) == 1
        broker.start()
        await until(
            lambda: rt.devices.connected and device.connects > connects, "both back on the broker", 30
        )
        await until(lambda: rt.devices.dropped == 1, "the bridge to drop the expired command")
        await asyncio.sleep(0.5)  # what would arrive has arrived
        assert device.commands == []  # the ventilation did not move
    assert rt.modules.module(module["id"]).state == {"on": False}


async def test_a_device_away_with_a_persistent_session_does_not_get_an_expired_command(rt, broker):
    module = await rt.modules.add_module("Maison", "Bureau", "ventilation")
    async with FakeDevice(broker, module["topic"], persistent=True):
        pass  # subscribed once: the broker keeps its session and queues QoS 1 messages while it is away
    await rt.modules.execute(turn_on())  # published with MQTT 5's message expiry: the broker queues it
    await failed_with_an_alert(rt, module["id"])
    await asyncio.sleep(TIMEOUT_S)  # past its expiry
    async with FakeDevice(broker, module["topic"], persistent=True) as device:
        await asyncio.sleep(0.5)
        assert device.commands == []
    # a command still within its deadline does reach a device back in time (the queue works)
    async with FakeDevice(broker, module["topic"], persistent=True):
        pass
    answer = await rt.modules.execute(turn_on(action_type="turn_off"))
    async with FakeDevice(broker, module["topic"], persistent=True) as device:
        await until(lambda: device.commands, "the queued command")
    assert device.commands[0]["action_id"] == answer["actions"][0]["id"]
    assert device.commands[0]["expires_at"].endswith("Z")


async def test_the_devices_own_later_report_resolves_the_alert_and_is_in_the_history(tmp_path, broker):
    runtime = start(tmp_path / "data", broker)
    try:
        await until(lambda: runtime.devices.connected, "the bridge to connect")
        await runtime.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                        "values": {"co2": 600}})  # fmt: skip
        module = await runtime.modules.add_module("Maison", "Bureau", "ventilation")
        async with FakeDevice(broker, module["topic"], silent=True):
            [action] = (await runtime.modules.execute(turn_on()))["actions"]
            await failed_with_an_alert(runtime, module["id"])
        assert len(await open_failures(runtime)) == 1
    finally:
        await runtime.stop()
    runtime = start(tmp_path / "data", broker)  # a restart: the alert is still open, and still resolvable
    try:
        await until(lambda: runtime.devices.connected, "the bridge to connect")
        device = FakeDevice(broker, module["topic"])
        await device.report({"on": True})  # someone switched it on at the unit, or it did it late
        await until(lambda: runtime.modules.module(module["id"]).state == {"on": True}, "the report")
        for _ in range(100):
            if not await open_failures(runtime):
                break
            await asyncio.sleep(0.05)
        assert await open_failures(runtime) == []
        [resolved] = [a for a in await runtime.alerting.list_alerts() if a["metric"] == "module:ventilation"]
        detail = await runtime.alerting.get_alert(resolved["id"])
        assert any(f"action {action['id']} asked for" in (e.get("comment") or "") for e in detail["history"])
        history = await runtime.modules.history("Maison", "Bureau")
        assert [(a["status"], a["source"]) for a in history] == [("reported", "device"), ("failed", "api")]
        assert history[0]["reason"] == {"after_failed_action": action["id"]}
        assert history[0]["desired"] == {"on": True}
    finally:
        await runtime.stop()


async def test_the_demo_on_a_broker_answers_over_it_and_leaves_a_real_devices_topic_alone(tmp_path, broker):
    import json

    import aiomqtt

    settings = Settings(
        data_dir=tmp_path / "data", score_interval_s=0, mqtt_broker=broker.host, mqtt_port=broker.port,
        command_timeout_s=3, demo=True, demo_backfill_hours=0, demo_interval_s=3600,
    )  # fmt: skip
    runtime = build_runtime(settings)
    runtime.start()
    try:
        await until(lambda: len(runtime.modules.modules()) >= 9, "the demo's modules", 20)
        await until(lambda: runtime.devices.connected, "the bridge to connect")
        fan = next(
            m for m in runtime.modules.modules() if m.room == "Open space" and m.module_type == "ventilation"
        )
        states = []
        async with aiomqtt.Client(broker.host, broker.port) as watcher:
            await watcher.subscribe(f"{fan.topic}/state", qos=1)
            await asyncio.sleep(0.3)  # subscribed before the command goes out
            await runtime.modules.command(fan.id, "turn_on", requested_by="test", source="api")

            async def first_state():
                async for message in watcher.messages:
                    states.append(json.loads(message.payload))
                    if states[-1].get("on"):
                        return

            await asyncio.wait_for(first_state(), 10)
        await until(lambda: runtime.modules.module(fan.id).state.get("on") is True, "the acknowledgement")
        [action] = await settled_history(runtime, "Head office", "Open space", limit=1)
        assert action["status"] == "acknowledged"  # answered by the demo's device, over the broker
        assert runtime.demo.simulator.rooms[0].model.ventilation_on  # and the simulated room is ventilated
        # a real device announces itself on the window's topic: the demo leaves that topic to it
        window = next(
            m for m in runtime.modules.modules() if m.room == "Open space" and m.module_type == "window"
        )
        async with aiomqtt.Client(broker.host, broker.port) as device:
            await device.publish(f"{window.topic}/availability", b"online", qos=1, retain=True)
        await until(lambda: window.topic in runtime.demo.devices.held, "the demo to see the real device")
        async with FakeDevice(broker, window.topic, silent=True) as real:
            await runtime.modules.command(window.id, "open", requested_by="test", source="api")
            await until(lambda: real.commands, "the command at the real device")
            await asyncio.sleep(0.5)
        assert runtime.modules.module(window.id).state == {"open": False}  # nobody answered in its place
    finally:
        await runtime.stop()
