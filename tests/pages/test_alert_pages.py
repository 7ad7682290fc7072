"""The alerts page and the dashboard's alert badge, through NiceGUI's simulated `user`, with alerting on."""

from __future__ import annotations

import asyncio
import time

import pytest
from nicegui import ui
from nicegui.testing import User

from tests.support.pages import room_id
from tests.support.waiting import eventually


@pytest.fixture
def alerts_on(monkeypatch):
    """Alerting on (conftest switches it off); must come before `user` among the test's arguments."""
    monkeypatch.setenv("IAQ_ALERTS", "1")
    monkeypatch.setenv("IAQ_ALERT_INTERVAL", "3600")


def co2_series(values: list[float], *, start: float, room: str = "Bureau", sensor: str = "s1") -> list[dict]:
    return [
        {"sensor_id": sensor, "enseigne": "Maison", "salle": room, "timestamp": start + 60 * i,
         "values": {"co2": v}}
        for i, v in enumerate(values)
    ]  # fmt: skip


async def raise_co2_alert(runtime) -> dict:
    await runtime.ingestion.ingest(co2_series([1500] * 7, start=int(time.time()) - 20 * 60))
    await eventually(lambda: runtime.alerting.open_counts() != {})
    # the evaluator counts an alert in memory before its transaction commits (a disk sync: 5 ms and more on
    # a busy machine): wait for the row as well
    for _ in range(100):
        active = await runtime.alerting.list_alerts(state="active")
        if active:
            break
        await asyncio.sleep(0.05)
    (alert,) = active
    return alert


async def test_an_active_alert_is_shown_acknowledged_and_resolved(
    alerts_on, user: User, runtime, caplog
) -> None:
    alert = await raise_co2_alert(runtime)
    await user.open("/alerts")
    with user.scope(marker=f"alert-{alert['id']}"):
        await user.should_see("CO₂ high")
        await user.should_see("Maison / Bureau")
        await user.should_see("1\u202f500 ppm (above 1\u202f220 ppm, peak 1\u202f500 ppm)")
        await user.should_see("since 1")  # "since 14 min ago (...)"
        user.find(marker="acknowledge").click()
    await user.should_see(marker="ack-dialog")
    await user.should_see("Recorded as admin")  # the signed-in account, not a name typed in
    user.find(marker="comment").type("window opened")
    user.find(marker="confirm").click()
    await user.should_see("Alert 'CO₂ high' in Maison / Bureau acknowledged")
    await user.should_see("acknowledged by admin", retries=20)
    assert (await runtime.alerting.get_alert(alert["id"]))["ack_comment"] == "window opened"

    with user.scope(marker=f"alert-{alert['id']}"):
        user.find(marker="resolve").click()
    await user.should_see(marker="resolve-dialog")
    await user.should_see("If the condition persists")
    user.find(marker="confirm").click()
    await user.should_see("Alert 'CO₂ high' in Maison / Bureau resolved")
    await user.should_see(marker="no-open-alerts", retries=20)
    rows = user.find(marker="history").elements.pop().rows
    assert [(r["rule"], r["state"], r["by"]) for r in rows] == [("CO₂ high", "resolved", "admin")]
    audit = [(e.actor, e.action) for e in await runtime.accounts.audit_log(10)]
    assert ("admin", "alert acknowledged") in audit and ("admin", "alert resolved") in audit
    # the list that held the buttons was refreshed under them: no error in the page's handlers
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text


async def test_a_new_alert_appears_live_and_the_history_filters(alerts_on, user: User, runtime) -> None:
    await user.open("/alerts")
    await user.should_see(marker="no-open-alerts")
    await user.should_not_see(marker="nav-alert-count")  # no open alert: no count on the navigation
    alert = await raise_co2_alert(runtime)
    await user.should_see(marker=f"alert-{alert['id']}", retries=20)
    await user.should_see(marker="nav-alert-count", retries=20)  # live, on every page's navigation
    assert user.find(marker="nav-alert-count").elements.pop().text == "1"
    history = user.find(marker="history").elements.pop()
    await eventually(lambda: [r["state"] for r in history.rows] == ["active"])  # reloads after the list
    user.find(marker="filter-state").elements.pop().set_value("resolved")
    await eventually(lambda: history.rows == [])
    user.find(marker="filter-state").elements.pop().set_value("all")
    user.find(marker="filter-room").type("Cuisine")
    await eventually(lambda: history.rows == [])


async def test_the_rule_editor_explains_invalid_rules_and_saves_valid_ones(
    alerts_on, user: User, runtime
) -> None:
    await user.open("/alerts")
    await user.should_see("CO₂ very high")  # a default rule
    user.find(marker="new-rule").click()
    await user.should_see(marker="rule-dialog")
    user.find(marker="rule-name").type("Meeting room CO₂")
    user.find(marker="rule-trigger").elements.pop().set_value(1000)
    user.find(marker="rule-reset").elements.pop().set_value(1100)
    user.find(marker="rule-duration").elements.pop().set_value(-60)
    user.find(marker="save-rule").click()
    await user.should_see("reset: must not be above the trigger (1000)")
    assert "must not be negative" in user.find(marker="rule-duration").elements.pop().error
    assert "above the trigger" in user.find(marker="rule-reset").elements.pop().error

    user.find(marker="rule-reset").elements.pop().set_value(900)
    user.find(marker="rule-duration").elements.pop().set_value(120)
    user.find(marker="save-rule").click()
    await user.should_see("Rule 'Meeting room CO₂' saved")
    await user.should_see("Meeting room CO₂", retries=20)
    await user.should_see("above 1\u202f000 ppm for 2 min; resolves below 900 ppm")
    (rule,) = [r for r in await runtime.alerting.list_rules() if r["name"] == "Meeting room CO₂"]
    assert (rule["trigger"], rule["reset"], rule["duration_s"]) == (1000, 900, 120)


async def test_the_dashboard_tile_shows_its_open_alerts(alerts_on, user: User, runtime) -> None:
    await runtime.ingestion.ingest(co2_series([700], start=int(time.time()) - 30 * 60))
    await user.open("/")
    rid = await room_id(runtime, "Bureau")
    with user.scope(marker=f"room-{rid}"):
        await user.should_see("Bureau")
        await user.should_not_see("open alert")  # no badge while the room has no open alert
    await raise_co2_alert(runtime)
    with user.scope(marker=f"room-{rid}"):
        await user.should_see("1 open alert", retries=20)


async def test_the_compliance_report_page_shows_table_chart_and_csv(user: User, runtime) -> None:
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86400))
    start = int(time.mktime(time.strptime(day, "%Y-%m-%d"))) - time.timezone + 9 * 3600  # 09:00 UTC
    await runtime.ingestion.ingest(
        [{**reading, "values": {"co2": 900 if i < 45 else 1500, "pm25": 5}}
         for i, reading in enumerate(co2_series([0] * 60, start=start))]
    )  # fmt: skip
    await user.open("/reports")
    user.find(marker="report-start").clear().type(day)
    user.find(marker="report-end").clear().type(day)
    user.find(marker="compute").click()
    await user.should_see(f"Maison / Bureau, {day} to {day}", retries=20)
    table = user.find(marker="report-table").elements.pop()
    shares = {row["measure"]: row["share"] for row in table.rows}
    assert shares["CO₂ category I"] == f"{4500 / 74:.1f} %"  # 45 of 74 covered minutes
    assert shares["CO₂ category III"] == f"{2900 / 74:.1f} %"
    assert shares["PM2.5 above the WHO 24-h guideline"] == "0.0 %"
    chart = user.find(ui.plotly).elements.pop()
    assert [bar["x"][0] for bar in chart.figure["data"]] == [
        round(4500 / 74, 1),
        0.0,
        round(2900 / 74, 1),
        0.0,
    ]

    user.find(marker="download-csv").click()
    response = await user.download.next()
    assert response.text.splitlines()[1].startswith(f"Maison,Bureau,{day},{day},co2,I,<= 970 ppm,")


async def test_alert_times_are_shown_in_the_buildings_local_time(alerts_on, user: User, runtime) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    site = await runtime.config.create_site({"name": "Maison", "timezone": "America/New_York"})
    await runtime.config.create_room(site["id"], {"name": "Bureau"})
    alert = await raise_co2_alert(runtime)
    raised = datetime.fromisoformat(alert["raised_at"].replace("Z", "+00:00"))
    local = raised.astimezone(ZoneInfo("America/New_York")).strftime("%-d %b %Y %H:%M")  # 7 Dec 2026 16:05
    await user.open("/alerts")
    with user.scope(marker=f"alert-{alert['id']}"):
        await user.should_see(f"({local} America/New_York)")
    rows = user.find(marker="history").elements.pop().rows
    assert rows[0]["raised_at"] == local


async def test_the_rule_list_says_which_rule_a_rooms_own_rule_replaces(
    alerts_on, user: User, runtime
) -> None:
    await runtime.ingestion.ingest(co2_series([700], start=int(time.time()) - 60))
    rid = await room_id(runtime, "Bureau")
    own = await runtime.alerting.create_rule(
        {"name": "Bureau CO₂", "metric": "co2", "trigger": 1000, "reset": 900, "room_id": rid}
    )
    await user.open("/alerts")
    with user.scope(marker=f"rule-{own['id']}"):
        await user.should_see("replaces 'CO₂ high' here")
    assert len(user.find(marker="rule-replaces").elements) == 1  # the global rules replace nothing


async def test_an_alert_is_snoozed_from_its_card(alerts_on, user: User, runtime) -> None:
    alert = await raise_co2_alert(runtime)
    await user.open("/alerts")
    await user.should_see(marker="nav-alert-count")
    with user.scope(marker=f"alert-{alert['id']}"):
        user.find(marker="snooze").click()
    user.find(marker="snooze-240").click()
    await user.should_see("Alert 'CO₂ high' in Maison / Bureau snoozed for 4 hours")
    await user.should_see("snoozed until", retries=20)
    await user.should_not_see(marker="nav-alert-count", retries=20)  # no longer counted as needing someone
    assert (await runtime.alerting.get_alert(alert["id"]))["state"] == "active"
