"""The alerting service in a real runtime (database, ingestion, bus), without a web server: readings raise
and resolve alerts, operators acknowledge and resolve them, silent sensors go offline, state survives a
restart."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.core.settings import Settings
from app.runtime import Runtime, build_runtime
from services.errors import Conflict, InvalidInput
from tests.support.runtimes import alerting_runtime as make_runtime
from tests.support.runtimes import series, settle
from tests.support.waiting import eventually

MIN = 60


@pytest.fixture
async def rt(tmp_path):
    runtime = make_runtime(tmp_path / "data")
    yield runtime
    await runtime.stop()


def collect(rt: Runtime) -> list[dict]:
    seen: list[dict] = []
    rt.bus.alerts.subscribe(seen.append)
    return seen


async def test_a_co2_rise_raises_one_alert_that_resolves_by_itself_below_the_reset(rt):
    seen = collect(rt)
    start = int(time.time()) - 40 * MIN
    # clean air, then a rise well above 1220 ppm, then oscillating around the trigger, then fresh air
    values = [800] * 5 + [1500] * 10 + [1180, 1260] * 6 + [1000] * 3
    await rt.ingestion.ingest(series(values, start=start))
    await settle(rt, len(values))

    (alert,) = await rt.alerting.list_alerts()
    assert (alert["rule"], alert["severity"], alert["metric"]) == ("CO₂ high", "warning", "co2")
    assert alert["state"] == "resolved" and alert["resolved_by"] is None  # by itself
    assert alert["value"] == 1500 and alert["peak"] == 1500 and alert["resolved_value"] == 1000
    assert alert["threshold"] == 1220 and alert["reset"] == 1120
    assert alert["enseigne"] == "Maison" and alert["salle"] == "Bureau"
    # raised 5 minutes (reading time) after the first reading above the trigger, resolved at the first below
    assert alert["raised_at"] == _iso(start + 10 * MIN)
    assert alert["resolved_at"] == _iso(start + 27 * MIN)
    assert [m["event"] for m in seen] == ["raised", "resolved"]
    assert seen[0]["id"] == alert["id"] and seen[0]["state"] == "active"


async def test_one_batch_of_several_rooms_raises_only_where_a_rule_is_crossed(rt):
    """Rules are decided per room and per metric over a whole batch: a room that stays clean raises nothing,
    readings without the metric are skipped, and readings older than what a rule has seen change nothing."""
    start = int(time.time()) - 30 * MIN
    clean = series([800] * 12, start=start, room="Salon", sensor="s2")
    rising = series([800] * 2 + [1500] * 10, start=start, room="Bureau")
    thermometer = [
        {"sensor_id": "t1", "enseigne": "Maison", "salle": "Bureau", "timestamp": start + i * MIN + 30,
         "values": {"temperature": 21.0}}
        for i in range(12)
    ]  # fmt: skip
    await rt.ingestion.ingest(clean + rising + thermometer)
    await settle(rt, 36)
    (alert,) = await rt.alerting.list_alerts(state="active")
    assert (alert["salle"], alert["metric"], alert["value"]) == ("Bureau", "co2", 1500)
    assert alert["raised_at"] == _iso(start + 7 * MIN)  # five minutes after the first reading above

    # readings of the clean room sent late (older than what its rules have seen): no alert for them
    await rt.ingestion.ingest(series([1500] * 8, start=start - 20 * MIN, room="Salon", sensor="s9"))
    await settle(rt, 44)
    assert [a["salle"] for a in await rt.alerting.list_alerts(state="active")] == ["Bureau"]


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def test_an_operator_acknowledges_then_resolves_and_the_history_says_who_and_when(rt):
    start = time.time() - 20 * MIN
    await rt.ingestion.ingest(series([1500] * 7, start=start))
    await settle(rt, 7)
    (alert,) = await rt.alerting.list_alerts(state="active")
    seen = collect(rt)

    acked = await rt.alerting.acknowledge(alert["id"], "Claire", "window opened")
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "Claire"
    assert acked["ack_comment"] == "window opened" and acked["acknowledged_at"]
    with pytest.raises(Conflict, match="acknowledged already by Claire"):
        await rt.alerting.acknowledge(alert["id"], "Marc")
    with pytest.raises(InvalidInput, match="by: must name who"):
        await rt.alerting.resolve(alert["id"], "")
    assert await rt.alerting.list_alerts(state="active") == []
    assert [a["id"] for a in await rt.alerting.list_alerts(state="open")] == [alert["id"]]

    resolved = await rt.alerting.resolve(alert["id"], "Claire", "fixed")
    assert resolved["state"] == "resolved" and resolved["resolved_by"] == "Claire"
    with pytest.raises(Conflict, match="resolved already"):
        await rt.alerting.resolve(alert["id"], "Claire")
    detail = await rt.alerting.get_alert(alert["id"])
    assert [(h["kind"], h["by"], h["comment"]) for h in detail["history"]] == [
        ("raised", None, None),
        ("acknowledged", "Claire", "window opened"),
        ("resolved", "Claire", "fixed"),
    ]
    assert [m["event"] for m in seen] == ["acknowledged", "resolved"]

    # still high: the rule starts over, no new alert within its cooldown (15 min of reading time)
    await rt.ingestion.ingest(series([1500] * 5, start=start + 7 * MIN))
    await settle(rt, 12)
    assert len(await rt.alerting.list_alerts()) == 1


async def test_a_silent_sensor_goes_offline_and_comes_back(rt):
    start = time.time() - 15 * MIN
    await rt.ingestion.ingest(series([600] * 5, start=start))  # every minute, the last 11 minutes ago
    await rt.ingestion.ingest(series([600] * 5, start=time.time() - 4 * MIN, sensor="s2", room="Cuisine"))
    await settle(rt, 10)
    await rt.alerting.check_offline()
    (offline,) = await rt.alerting.list_alerts(state="active")
    assert offline["metric"] == "offline" and offline["sensor_id"] == "s1" and offline["salle"] == "Bureau"
    assert offline["value"] > 600  # seconds of silence when it was noticed
    assert rt.alerting.open_counts() == {offline["room_id"]: {"warning": 1}}
    await rt.alerting.check_offline()
    assert len(await rt.alerting.list_alerts()) == 1  # still one

    await rt.ingestion.ingest(series([600], start=time.time()))
    await settle(rt, 11)
    (back,) = await rt.alerting.list_alerts()
    assert back["state"] == "resolved" and back["resolved_by"] is None
    assert rt.alerting.open_counts() == {}


async def test_an_open_alert_survives_a_restart_and_resolves_afterwards(tmp_path):
    first = make_runtime(tmp_path / "data")
    start = time.time() - 30 * MIN
    await first.ingestion.ingest(series([1500] * 7, start=start))
    await settle(first, 7)
    await first.stop()

    second = make_runtime(tmp_path / "data")
    try:
        (alert,) = await second.alerting.list_alerts(state="active")
        assert second.alerting.open_counts() == {alert["room_id"]: {"warning": 1}}
        await second.ingestion.ingest(series([1400, 1000], start=start + 7 * MIN))
        await settle(second, 2)
        (after,) = await second.alerting.list_alerts()
        assert after["id"] == alert["id"] and after["state"] == "resolved" and after["peak"] == 1500
    finally:
        await second.stop()


async def test_a_new_global_rule_like_a_built_in_one_fires_on_its_own(rt):
    # same metric, direction, severity and scope as "CO₂ high" (1220 ppm for 5 min): it used to be ignored
    await rt.alerting.create_rule(
        {"name": "CO₂ 1500", "metric": "co2", "trigger": 1500, "reset": 1400, "duration_s": 60}
    )
    await rt.ingestion.ingest(series([2400] * 10, start=time.time() - 20 * MIN))
    await settle(rt, 10)
    raised = sorted(a["rule"] for a in await rt.alerting.list_alerts(state="active"))
    assert raised == ["CO₂ 1500", "CO₂ high", "CO₂ very high"]


async def test_rules_for_a_room_replace_global_ones_and_deleting_a_rule_resolves_its_alerts(rt):
    await rt.ingestion.ingest(series([1300] * 6, start=time.time() - 36 * MIN))
    await settle(rt, 6)
    (global_alert,) = await rt.alerting.list_alerts(state="active")  # the global rule, 1220 ppm
    room_id = (await rt.config.list_sites())[0]["rooms"][0]["id"]
    with pytest.raises(InvalidInput, match="room_id: room 999 does not exist"):
        await rt.alerting.create_rule(
            {"name": "x", "metric": "co2", "trigger": 9, "reset": 0, "room_id": 999}
        )
    rule = await rt.alerting.create_rule(
        {"name": "Meeting CO2", "metric": "co2", "trigger": 1000, "reset": 900, "room_id": room_id}
    )
    assert rule["scope"] == "room" and rule["severity"] == "warning" and rule["duration_s"] == 0
    # the room's rule replaces the global one there: its open alert is resolved, it would never clear now
    replaced = await rt.alerting.get_alert(global_alert["id"])
    assert replaced["state"] == "resolved" and replaced["resolved_by"] == "system"
    assert replaced["history"][-1]["comment"] == "replaced by a more specific rule"

    await rt.ingestion.ingest(series([1100, 1100], start=time.time() - 29 * MIN))
    await settle(rt, 8)
    (alert,) = await rt.alerting.list_alerts(state="active")
    assert alert["rule"] == "Meeting CO2"  # at once: no duration; 1100 ppm is under the global 1220 ppm

    deleted = await rt.alerting.delete_rule(rule["id"])
    assert deleted["resolved"] == 1
    after = await rt.alerting.get_alert(alert["id"])
    assert after["state"] == "resolved" and after["resolved_by"] == "system" and after["rule_id"] is None


async def test_the_worker_looks_for_silent_sensors_every_interval(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data", alerts_enabled=True, alert_interval_s=0.2, score_interval_s=0
    )
    runtime = build_runtime(settings)
    runtime.start()
    try:
        await runtime.ingestion.ingest(series([600] * 4, start=time.time() - 20 * MIN))  # silent for 17 min
        deadline = time.monotonic() + 5
        while not await runtime.alerting.list_alerts(state="active"):
            assert time.monotonic() < deadline, "no offline alert from the worker's tick"
            await asyncio.sleep(0.1)
        (alert,) = await runtime.alerting.list_alerts(state="active")
        assert alert["metric"] == "offline" and alert["sensor_id"] == "s1"
    finally:
        await runtime.stop()


async def test_deleting_a_room_ends_its_alerts_and_a_new_room_never_shows_them(rt):
    # the newest room (Cuisine) has a CO2 alert and a silent sensor; it is deleted, then a room is added
    await rt.ingestion.ingest(series([600] * 3, start=time.time() - 3 * MIN))  # Bureau, healthy
    await rt.ingestion.ingest(series([1500] * 7, start=time.time() - 20 * MIN, sensor="s2", room="Cuisine"))
    await settle(rt, 10)
    await rt.alerting.check_offline()
    sites = await rt.config.list_sites()
    cuisine = next(r for r in sites[0]["rooms"] if r["name"] == "Cuisine")
    assert {a["salle"] for a in await rt.alerting.list_alerts(state="open")} == {"Cuisine"}
    assert set(rt.alerting.open_counts()) == {cuisine["id"]}

    await rt.config.delete_room(cuisine["id"], cascade=True)
    await eventually(lambda: rt.alerting.open_counts() == {})  # no count of a room that is gone
    assert await rt.alerting.list_alerts(state="open") == []
    await rt.alerting.check_offline()  # its sensor, now in no room, raises nothing
    assert await rt.alerting.list_alerts(state="open") == []

    added = await rt.config.create_room(sites[0]["id"], {"name": "Atelier"})
    assert added["id"] > cuisine["id"]  # ids are never reused
    assert rt.alerting.open_counts() == {}


async def test_a_snoozed_alert_stays_open_but_leaves_the_count_until_its_snooze_ends(rt):
    await rt.ingestion.ingest(series([1500] * 7, start=time.time() - 20 * MIN))
    await settle(rt, 7)
    (alert,) = await rt.alerting.list_alerts(state="open")
    assert rt.alerting.open_total(None) == 1 and rt.alerting.open_total(frozenset({"Elsewhere"})) == 0
    with pytest.raises(InvalidInput, match="minutes: must be a whole number of minutes from 0 to 10080"):
        await rt.alerting.snooze(alert["id"], 60.5, "claire")
    snoozed = await rt.alerting.snooze(alert["id"], 60, "claire", "filter changed tomorrow")
    assert snoozed["state"] == "active" and snoozed["snoozed_until"] is not None
    assert rt.alerting.open_total(None) == 0  # put aside: the navigation does not count it
    history = (await rt.alerting.get_alert(alert["id"]))["history"]
    assert (history[-1]["kind"], history[-1]["by"]) == ("snoozed", "claire")
    seen = collect(rt)
    rt.alerting.clock = lambda: time.time() + 3601  # an hour later (the sensor is silent by then)
    assert rt.alerting.open_total(None) == 1
    await rt.alerting.check_offline()  # the tick says so, and the pages count it again at once
    assert [m["id"] for m in seen if m["event"] == "snooze_ended"] == [alert["id"]]
    await rt.alerting.resolve(alert["id"], "claire")
    with pytest.raises(Conflict):
        await rt.alerting.snooze(alert["id"], 60, "claire")
