"""The Modules page through NiceGUI's simulated `user`: an operator switches a room's ventilation, the command
reaches a device (simulated, or on a real mosquitto), and the reported state comes back to the page (through
`bus.module_states`, which every open page and `/ws` client follows; see test_api_modules for `/ws`)."""

from __future__ import annotations

import pytest
from nicegui.testing import User

from tests.support.mosquitto import FakeDevice, mosquitto_server
from tests.support.waiting import eventually


async def bureau_with_modules(runtime) -> dict[str, dict]:
    await runtime.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                    "values": {"co2": 900}})  # fmt: skip
    return {t: await runtime.modules.add_module("Maison", "Bureau", t) for t in ("ventilation", "window")}


async def test_an_operator_switches_ventilation_on_and_sees_the_device_answer(user: User, runtime) -> None:
    modules = await bureau_with_modules(runtime)
    vent = modules["ventilation"]["id"]
    await user.open("/modules")
    await user.should_see("Maison · Bureau")
    await user.should_see("Off", marker=f"module-{vent}-state")
    await user.should_see("Closed", marker=f"module-{modules['window']['id']}-state")
    user.find(marker=f"module-{vent}-turn_on").click()
    await user.should_see("On", marker=f"module-{vent}-state", retries=30)
    await eventually(lambda: runtime.modules.module(vent).state == {"on": True})
    user.find(marker=f"room-{modules['ventilation']['room_id']}-history").click()
    await user.should_see("acknowledged", retries=30)
    await user.should_see("ventilation: switch on by admin")  # the signed-in account, not a generic name


async def test_a_viewer_sees_the_modules_but_no_control_it_could_not_use(create_user, runtime) -> None:
    modules = await bureau_with_modules(runtime)
    vent = modules["ventilation"]["id"]
    runtime.accounts.create_user_sync("vera", "viewer", "vera-password")
    viewer: User = create_user()
    signed_in = await viewer.http_client.post(
        "/api/auth/login", json={"name": "vera", "password": "vera-password"}
    )
    assert signed_in.status_code == 200
    await viewer.open("/modules")
    await viewer.should_see("Off", marker=f"module-{vent}-state")
    await viewer.should_see("automation: Off")
    room = modules["ventilation"]["room_id"]
    for control in (f"module-{vent}-turn_on", f"room-{room}-add", "nav-settings", "menu-settings"):
        await viewer.should_not_see(marker=control)
    await viewer.open("/alerts")
    await viewer.should_see("CO₂ high")
    for control in ("new-rule", "edit-rule", "delete-rule"):
        await viewer.should_not_see(marker=control)
    await viewer.open("/models")
    await viewer.should_see("Room and metric")  # the selects drive the charts; training is not offered
    await viewer.should_not_see(marker="train-now")
    await viewer.should_not_see(marker="activate")
    assert runtime.modules.module(vent).state == {"on": False}
    assert await runtime.modules.history("Maison", "Bureau", limit=10) == []


async def test_the_automation_mode_is_chosen_on_the_page(user: User, runtime) -> None:
    modules = await bureau_with_modules(runtime)
    room_id = modules["ventilation"]["room_id"]
    await user.open("/modules")
    toggle = user.find(marker=f"room-{room_id}-mode").elements.pop()
    toggle.set_value("auto")
    await eventually(lambda: runtime.automation.room_settings(room_id)["mode"] == "auto")
    await user.should_see("Automation: Auto")
    assert runtime.modules.store.automation()[room_id]["mode"] == "auto"  # kept across restarts


@pytest.fixture
def mqtt_broker(monkeypatch):
    """A real broker the platform connects to; must come before `user` among the test's arguments."""
    with mosquitto_server() as broker:
        monkeypatch.setenv("MQTT_BROKER", broker.host)
        monkeypatch.setenv("MQTT_PORT", str(broker.port))
        yield broker


async def test_done_when_a_command_from_the_page_reaches_a_device_on_mosquitto_and_comes_back(
    mqtt_broker, user: User, runtime
) -> None:
    await eventually(lambda: runtime.devices.connected, timeout_s=10)
    modules = await bureau_with_modules(runtime)
    vent = modules["ventilation"]["id"]
    await user.open("/modules")
    async with FakeDevice(mqtt_broker, modules["ventilation"]["topic"]) as device:
        user.find(marker=f"module-{vent}-turn_on").click()
        await eventually(lambda: device.commands, timeout_s=10)
        await user.should_see("On", marker=f"module-{vent}-state", retries=50)
    assert device.commands[0]["state"] == {"on": True} and device.commands[0]["requested_by"] == "admin"


async def test_an_operator_adds_a_module_to_a_room(user: User, runtime) -> None:
    await runtime.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                    "values": {"co2": 900}})  # fmt: skip
    await user.open("/modules")
    room_id = await runtime.modules.room_id("Maison", "Bureau")
    user.find(marker=f"room-{room_id}-new-type").elements.pop().set_value("purifier")
    user.find(marker=f"room-{room_id}-new-name").type("Purifier north")
    user.find(marker=f"room-{room_id}-add").click()
    await user.should_see("Purifier north added (MQTT topic iaqverse/maison/bureau/purifier-north)")
    [module] = runtime.modules.modules(room_id)
    await user.should_see("Off", marker=f"module-{module.id}-state")
    user.find(marker=f"room-{room_id}-new-name").type("Purifier north")  # the same name again
    user.find(marker=f"room-{room_id}-add").click()
    await user.should_see("has a module named 'Purifier north' already")


async def test_confirming_a_proposal_is_confirmed_audited_and_carried_out(
    user: User, runtime, caplog
) -> None:
    modules = await bureau_with_modules(runtime)
    vent = modules["ventilation"]["id"]
    reason = {"pollutant": "co2", "value": 1400, "level": "poor"}
    proposal = await runtime.modules.propose(vent, "turn_on", reason=reason)
    await user.open("/modules")
    await user.should_see("Proposed:")
    user.find(marker=f"proposal-{proposal['id']}-confirm").click()
    await user.should_see("Proposal confirmed")  # the history holding the button was refreshed under it
    await eventually(lambda: runtime.modules.module(vent).state == {"on": True})
    audit = [(e.actor, e.action) for e in await runtime.accounts.audit_log(5)]
    assert ("admin", "proposal confirmed") in audit
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
