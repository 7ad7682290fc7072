"""Modules without a broker (simulated devices acting on the simulator's room model), automation and action
effectiveness, in a real runtime (database, ingestion, bus) without a web server."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from app.core.domain.modules import air_change_rate
from app.runtime import Runtime
from services.errors import Conflict, InvalidInput, NotFound
from services.simulator.room_model import RoomModel
from tests.support.runtimes import modules_runtime as make_runtime
from tests.support.runtimes import settled_history

CO2_ALERT_PPM = 1220  # the default "CO₂ high" alert rule's trigger (EN 16798-1 category II)


def test_air_change_rate_is_recovered_from_a_noisy_synthetic_decay():
    rng = random.Random(7)
    for true_ach in (0.5, 2.0, 6.0):
        samples = [
            (t, 420 + 900 * math.exp(-true_ach * t / 3600) + rng.gauss(0, 5))
            for t in range(0, 3600 if true_ach < 1 else 1500, 60)
        ]
        estimate = air_change_rate(samples, outdoor_ppm=420)
        assert estimate is not None
        assert abs(estimate.ach_per_h - true_ach) / true_ach < 0.10, (true_ach, estimate)
        assert estimate.r2 > 0.9


def test_no_air_change_rate_from_rising_or_too_few_readings():
    assert air_change_rate([(t, 500 + t) for t in range(0, 600, 60)]) is None
    assert air_change_rate([(0, 1200), (60, 1100)]) is None


async def until(condition: Callable[[], object], what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


@pytest.fixture
async def rt(tmp_path):
    runtime = make_runtime(tmp_path / "data")
    await runtime.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                    "values": {"co2": 600}})  # fmt: skip
    yield runtime
    await runtime.stop()


def empty_room(co2_ppm: float = 1500.0, occupants: int = 0) -> RoomModel:
    model = RoomModel(volume_m3=60, capacity=10, ach_per_h=1.0, night_ach_per_h=1.0, seed=1,
                      fixed_occupants=occupants, random_events=False)  # fmt: skip
    model.co2_ppm = co2_ppm
    return model


async def feed(rt: Runtime, model: RoomModel, start: datetime, minutes: int) -> list[float]:
    """Step the room model minute by minute and ingest its readings like a sensor, waiting after each for
    the automation and the devices to be done; returns the CO2 readings."""
    co2 = []
    for minute in range(1, minutes + 1):
        when = start + timedelta(minutes=minute)
        seen = rt.automation.readings_seen
        values = model.step(when, 60)
        co2.append(values["co2"])
        await rt.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                   "timestamp": when.isoformat(), "values": values})  # fmt: skip
        await until(
            lambda s=seen: rt.automation.readings_seen > s and rt.automation.idle and not rt.modules._pending,
            "the automation and the device",
        )
    return co2


async def test_simulated_ventilation_acts_on_the_room_and_its_air_change_rate_is_measured(rt):
    module = await rt.modules.add_module("Maison", "Bureau", "ventilation")
    model = empty_room()
    rt.devices.attach(module["topic"], "ventilation", model)
    answer = await rt.modules.execute({"enseigne": "Maison", "salle": "Bureau", "module_type": "vmc",
                                       "action_type": "on", "reason": {"pollutant": "co2"}})  # fmt: skip
    await until(lambda: rt.modules.module(module["id"]).state == {"on": True}, "the simulated device")
    assert model.ventilation_on, "the simulated device switched the simulated room's ventilation on"
    expected = model.effective_ach_per_h()
    co2 = await feed(rt, model, datetime.now(UTC) - timedelta(hours=1), 25)
    assert co2[-1] < co2[0] - 300, "the CO2 decays once the ventilation runs"
    await until(lambda: rt.effectiveness.estimates == 1, "the air change rate")
    [action] = await settled_history(rt, "Maison", "Bureau")
    assert action["id"] == answer["actions"][0]["id"] and action["status"] == "acknowledged"
    assert abs(action["ach_per_h"] - expected) / expected < 0.10, (action["ach_per_h"], expected)
    rates = await rt.modules.air_change_rates()
    assert rates[module["room_id"]][0] == action["ach_per_h"]


async def test_auto_mode_keeps_co2_under_the_alert_threshold_without_oscillating(rt):
    module = await rt.modules.add_module("Maison", "Bureau", "ventilation")
    model = empty_room(co2_ppm=700, occupants=4)
    assert model.steady_state_co2_ppm(4, 1.0) > CO2_ALERT_PPM + 300, "left alone, the room gets stuffy"
    rt.devices.attach(module["topic"], "ventilation", model)
    room_id = module["room_id"]
    await rt.automation.set_room_settings(room_id, {"mode": "auto", "min_on_s": 900, "cooldown_s": 600,
                                                    "daily_budget": 100})  # fmt: skip
    co2 = await feed(rt, model, datetime.now(UTC) - timedelta(hours=6), 6 * 60)
    assert max(co2) < CO2_ALERT_PPM, f"CO2 reached {max(co2)} ppm"
    switchings = sorted(
        [a for a in await settled_history(rt, "Maison", "Bureau", limit=1000) if a["source"] == "automation"],
        key=lambda a: a["id"],
    )
    assert all(a["status"] == "acknowledged" for a in switchings)
    kinds = [a["action_type"] for a in switchings]
    assert kinds[:2] == ["turn_on", "turn_off"] and all(a != b for a, b in itertools.pairwise(kinds))
    # no oscillation: every on-period lasted the minimum on-time, every pause the cooldown (in reading time),
    # so 6 hours hold at most 6 h / (15 min + 10 min) cycles
    assert len(switchings) <= 2 * 6 * 60 // 25
    assert len(switchings) >= 4, "the ventilation cycles, it is not left on"


async def test_a_manual_command_holds_off_the_automation(rt):
    module = await rt.modules.add_module("Maison", "Bureau", "ventilation")
    model = empty_room(co2_ppm=1300, occupants=4)
    rt.devices.attach(module["topic"], "ventilation", model)
    await rt.automation.set_room_settings(module["room_id"], {"mode": "auto"})
    await rt.modules.command(module["id"], "turn_off", requested_by="alice", source="manual")
    await feed(rt, model, datetime.now(UTC) - timedelta(minutes=30), 20)
    actions = await rt.modules.history("Maison", "Bureau")
    assert [a["requested_by"] for a in actions] == ["alice"], "the automation waited for the hold to pass"
    assert not model.ventilation_on


async def test_recommend_mode_proposes_and_an_operator_confirms(rt):
    module = await rt.modules.add_module("Maison", "Bureau", "purificateur")
    model = empty_room(co2_ppm=500)
    rt.devices.attach(module["topic"], "purifier", model)
    await rt.automation.set_room_settings(module["room_id"], {"mode": "recommend"})
    when = datetime.now(UTC) - timedelta(minutes=5)
    for minute in range(3):
        await rt.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                   "timestamp": (when + timedelta(minutes=minute)).isoformat(),
                                   "values": {"pm25": 60}})  # fmt: skip
    await until(lambda: rt.automation.readings_seen >= 4 and rt.automation.idle, "the automation")
    [proposal] = await rt.modules.history("Maison", "Bureau")
    assert proposal["status"] == "proposed" and proposal["reason"]["pollutant"] == "pm25"
    assert not model.purifier_on, "nothing is done before an operator confirms"
    sent = await rt.modules.decide_proposal(proposal["id"], True, "bob")
    assert sent["requested_by"] == "bob"
    await until(lambda: model.purifier_on, "the purifier")
    with pytest.raises(Conflict):
        await rt.modules.decide_proposal(proposal["id"], True, "bob")


async def test_a_forecast_crossing_proposes_ventilation_before_the_room_is_stuffy(rt):
    from services.forecasting.preventive import crossing

    module = await rt.modules.add_module("Maison", "Bureau", "ventilation")
    await rt.automation.set_room_settings(module["room_id"], {"mode": "recommend"})
    ahead = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    forecast = {"room_id": module["room_id"], "enseigne": "Maison", "salle": "Bureau", "metric": "co2",
                "current": 820, "forecasts": [{"horizon_min": 30, "timestamp": ahead, "value": 1130,
                                               "low": 1040, "high": 1220}]}  # fmt: skip
    rt.bus.forecast_crossings.emit(crossing(forecast))
    await until(lambda: rt.automation.idle and rt.automation.considered >= 1, "the automation")
    [proposal] = await rt.modules.history("Maison", "Bureau")
    assert proposal["status"] == "proposed" and proposal["action_type"] == "turn_on"
    assert proposal["reason"]["source"] == "forecast" and proposal["reason"]["within_min"] == 30


async def test_an_unanswered_proposal_is_withdrawn_when_the_air_clears(rt):
    module = await rt.modules.add_module("Maison", "Bureau", "ventilation")
    await rt.automation.set_room_settings(module["room_id"], {"mode": "recommend"})
    when = datetime.now(UTC) - timedelta(minutes=5)
    for minute, co2 in enumerate((1400, 1300, 700)):
        await rt.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                   "timestamp": (when + timedelta(minutes=minute)).isoformat(),
                                   "values": {"co2": co2}})  # fmt: skip
    await until(lambda: rt.automation.readings_seen >= 4 and rt.automation.idle, "the automation")
    [proposal] = await rt.modules.history("Maison", "Bureau")
    assert proposal["status"] == "dismissed" and proposal["error"].startswith("withdrawn: co2 back to ok")


async def test_bad_commands_are_refused_and_nothing_is_recorded(rt):
    await rt.modules.add_module("Maison", "Bureau", "window")
    base = {"enseigne": "Maison", "salle": "Bureau"}
    with pytest.raises(InvalidInput, match="module_type: unknown module type 'teleporter'"):
        await rt.modules.execute({**base, "module_type": "teleporter", "action_type": "turn_on"})
    with pytest.raises(InvalidInput, match="action_type: a window module cannot 'set_level'"):
        await rt.modules.execute({**base, "module_type": "fenetre", "action_type": "set_level", "value": 2})
    with pytest.raises(NotFound, match="no module of type 'ventilation'"):
        await rt.modules.execute({**base, "module_type": "ventilation", "action_type": "turn_on"})
    with pytest.raises(NotFound, match="no room named 'Cave'"):
        await rt.modules.execute({**base, "salle": "Cave", "module_type": "window", "action_type": "open"})
    assert await rt.modules.history() == []
    with pytest.raises(Conflict):
        await rt.modules.add_module("Maison", "Bureau", "window")


async def test_the_demo_rooms_get_modules_that_act_on_their_simulated_air(tmp_path):
    runtime = make_runtime(tmp_path / "data", demo=True, demo_backfill_hours=0, demo_interval_s=3600)
    try:
        await until(lambda: len(runtime.modules.modules()) >= 9, "the demo modules")
        simulated = {room.room: room for room in runtime.demo.simulator.rooms}
        for room in simulated:
            types = {m.module_type for m in runtime.modules.modules() if m.room == room}
            assert {"ventilation", "purifier"} <= types
        target = next(
            m for m in runtime.modules.modules() if m.room == "Meeting room" and m.module_type == "purifier"
        )
        await runtime.modules.command(target.id, "turn_on", requested_by="demo", source="manual")
        await until(lambda: simulated["Meeting room"].model.purifier_on, "the simulated purifier")
    finally:
        await runtime.stop()
    again = make_runtime(tmp_path / "data", demo=True, demo_backfill_hours=0, demo_interval_s=3600)
    try:  # after a restart the simulated room starts as its modules were left
        await until(
            lambda: again.demo.simulator is not None and again.devices.models, "the demo modules again"
        )
        meeting = next(room for room in again.demo.simulator.rooms if room.room == "Meeting room")
        await until(lambda: meeting.model.purifier_on, "the purifier's state carried over")
        assert not meeting.model.ventilation_on
    finally:
        await again.stop()


async def test_a_newer_command_supersedes_a_pending_one(tmp_path):
    runtime = make_runtime(tmp_path / "data")
    runtime.devices.delay_s = 0.3
    try:
        await runtime.ingestion.ingest({"sensor_id": "s1", "enseigne": "Maison", "salle": "Bureau",
                                        "values": {"co2": 600}})  # fmt: skip
        module = await runtime.modules.add_module("Maison", "Bureau", "purifier")
        await asyncio.gather(
            runtime.modules.command(module["id"], "turn_on", requested_by="a", source="manual"),
            runtime.modules.command(module["id"], "set_level", value=3, requested_by="b", source="manual"),
        )
        statuses = sorted(a["status"] for a in await settled_history(runtime, "Maison", "Bureau"))
        assert statuses == ["acknowledged", "superseded"]
        assert runtime.modules.module(module["id"]).state["on"] is True
    finally:
        await runtime.stop()
