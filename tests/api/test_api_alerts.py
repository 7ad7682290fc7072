"""Alerts end to end on a real server: a CO2 rise raises one alert, `/ws` and webhooks receive it, it resolves
by itself; the lifecycle and the rules through the REST API."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tests.support.servers import WebhookReceiver, platform


@pytest.fixture(scope="module")
def receivers():
    with WebhookReceiver() as steady, WebhookReceiver(fail_first=2) as flaky:
        yield steady, flaky


@pytest.fixture(scope="module")
def server(tmp_path_factory, receivers):
    steady, flaky = receivers
    env = {
        "IAQ_ALERTS": "1",
        "IAQ_ALERT_INTERVAL": "3600",  # no offline check during these tests
        "IAQ_WEBHOOK_URLS": f"{steady.url},{flaky.url}",
        "IAQ_WEBHOOK_BACKOFF": "0.2",
    }
    with platform(tmp_path_factory.mktemp("alerts") / "data", **env) as srv:
        yield srv


def rise(site: str, room: str, values: list[float], *, start: int) -> list[dict]:
    return [
        {"sensor_id": f"{site}-{room}", "enseigne": site, "salle": room, "timestamp": start + 60 * i,
         "values": {"co2": v}}
        for i, v in enumerate(values)
    ]  # fmt: skip


def wait_for(fetch, condition, timeout_s: float = 10):
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if condition(value):
            return value
        assert time.monotonic() < deadline, f"not reached in time: {value}"
        time.sleep(0.1)


async def next_alert(ws, event: str, timeout_s: float = 10) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if message["type"] == "alert" and message["event"] == event:
            return message


async def test_a_co2_rise_raises_one_alert_on_ws_and_webhooks_and_it_resolves_by_itself(server, receivers):
    steady, flaky = receivers
    start = int(time.time()) - 20 * 60
    async with (
        websockets.connect(server.url.replace("http", "ws") + "/ws") as ws,
        httpx.AsyncClient(base_url=server.url, timeout=10) as api,
    ):
        assert json.loads(await ws.recv())["type"] == "connection"
        await ws.send(json.dumps({"type": "unsubscribe", "topics": ["all"]}))
        await ws.send(json.dumps({"type": "subscribe", "topics": ["alerts"]}))
        readings = rise(
            "E2E", "Meeting", [700, 900, 1100, 1300, 1450, 1500, 1550, 1500, 1480, 1500], start=start
        )
        for reading in readings:  # one by one, as a sensor sends them
            assert (await api.post("/api/ingest", json=reading)).status_code == 200
        raised = await next_alert(ws, "raised")
        assert raised["salle"] == "Meeting" and raised["rule"] == "CO₂ high" and raised["state"] == "active"
        answer = await api.get("/api/alerts", params={"enseigne": "E2E", "salle": "Meeting"})
        (alert,) = answer.json()  # one alert, not one per reading above the trigger
        assert alert["id"] == raised["id"] and alert["value"] == 1480  # 5 min after the first above 1220
        assert alert["raised_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 8 * 60))

        falling = rise("E2E", "Meeting", [1300, 1150, 1000], start=start + 10 * 60)
        assert (await api.post("/api/ingest", json=falling)).status_code == 200
        resolved = await next_alert(ws, "resolved")
        assert resolved["id"] == alert["id"] and resolved["resolved_by"] is None
        assert resolved["resolved_value"] == 1000 and resolved["peak"] == 1550

    def mine(receiver):
        return [
            (m["event"], m["alert"]["state"]) for m in receiver.received if m["alert"]["id"] == alert["id"]
        ]

    wait_for(lambda: mine(steady), lambda got: got == [("raised", "active"), ("resolved", "resolved")])
    wait_for(lambda: mine(flaky), lambda got: len(got) == 2)  # delivered after its failures
    attempts = wait_for(
        lambda: httpx.get(f"{server.url}/api/alerts/{alert['id']}").json()["notifications"],
        lambda n: (
            {(x["target"], x["event"]) for x in n if x["ok"]}  # every delivery done, and recorded
            == {(url, event) for url in (steady.url, flaky.url) for event in ("raised", "resolved")}
        ),
    )
    to_flaky = [(n["event"], n["attempt"], n["ok"]) for n in attempts if n["target"] == flaky.url]
    assert sum(not ok for _, _, ok in to_flaky) == 2  # each failed attempt is recorded ...
    for event in ("raised", "resolved"):  # ... and retried until the receiver took it
        tries = [(attempt, ok) for e, attempt, ok in to_flaky if e == event]
        assert tries[-1] == (len(tries), True) and not any(ok for _, ok in tries[:-1])
    assert all(n["ok"] for n in attempts if n["target"] == steady.url)


def test_acknowledge_and_resolve_through_the_api_with_history_and_filters(api):
    start = int(time.time()) - 30 * 60
    assert api.post("/api/ingest", json=rise("Life", "Lab", [1600] * 7, start=start)).status_code == 200
    (alert,) = wait_for(
        lambda: api.get("/api/alerts", params={"enseigne": "Life"}).json(), lambda a: len(a) == 1
    )
    path = f"/api/alerts/{alert['id']}"

    refused = api.post(f"{path}/acknowledge", json={"by": 42})
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "by"
    too_long = api.post(f"{path}/snooze", json={"minutes": 99999})
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["field"] == "minutes"
    snoozed = api.post(f"{path}/snooze", json={"minutes": 30})
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["snoozed_until"] and snoozed.json()["state"] == "active"  # still open
    acked = api.post(f"{path}/acknowledge", json={"comment": "opening windows"})
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "admin"  # the signed-in account, not a name in the body
    assert api.post(f"{path}/acknowledge", json={"by": "Marc"}).status_code == 409
    acknowledged = api.get("/api/alerts", params={"state": "acknowledged", "enseigne": "Life"}).json()
    assert [a["id"] for a in acknowledged] == [alert["id"]]
    assert api.get("/api/alerts", params={"state": "active", "enseigne": "Life"}).json() == []

    done = api.post(f"{path}/resolve", json={"by": "Claire", "comment": "aired"})
    assert done.status_code == 200 and done.json()["resolved_by"] == "admin for Claire"
    assert api.post(f"{path}/resolve", json={"by": "Claire"}).status_code == 409
    history = api.get(path).json()["history"]
    assert [(h["kind"], h["by"]) for h in history] == [("raised", None), ("snoozed", "admin"),
                                                       ("acknowledged", "admin"),
                                                       ("resolved", "admin for Claire")]  # fmt: skip
    assert history[2]["comment"] == "opening windows"

    assert api.get("/api/alerts", params={"state": "resolved", "salle": "Lab"}).json()[0]["id"] == alert["id"]
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    assert api.get("/api/alerts", params={"enseigne": "Life", "since": later}).json() == []
    bad = api.get("/api/alerts", params={"state": "sleeping"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "state"
    bad = api.get("/api/alerts", params={"since": "yesterday"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "since"
    assert api.post("/api/alerts/99999/acknowledge", json={"by": "x"}).status_code == 404


def test_default_rules_ship_enabled_and_rules_are_managed_with_field_errors(api):
    defaults = api.get("/api/alert-rules").json()
    assert {r["metric"] for r in defaults} >= {"co2", "pm25", "tvoc", "temperature", "humidity", "offline"}
    assert all(r["enabled"] and r["scope"] == "global" for r in defaults)

    bad = api.post(
        "/api/alert-rules",
        json={"name": "CO2", "metric": "co2", "trigger": 1000, "reset": 1100, "duration_s": -60},
    )
    assert bad.status_code == 422
    fields = {e["field"]: e["problem"] for e in bad.json()["detail"]}
    assert "must not be above the trigger (1000)" in fields["reset"]
    assert fields["duration_s"] == "must not be negative (seconds)"

    created = api.post(
        "/api/alert-rules",
        json={"name": "Lab PM", "metric": "pm25", "trigger": 20, "reset": 15, "severity": "critical",
              "only_open_hours": True},
    )  # fmt: skip
    assert created.status_code == 201
    rule = created.json()
    assert rule["scope"] == "global" and rule["only_open_hours"] is True
    changed = api.patch(f"/api/alert-rules/{rule['id']}", json={"trigger": 25, "reset": 20})
    assert changed.status_code == 200 and changed.json()["trigger"] == 25
    refused = api.patch(f"/api/alert-rules/{rule['id']}", json={"reset": 30})
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "reset"
    assert api.get(f"/api/alert-rules/{rule['id']}").json()["reset"] == 20
    assert api.patch(f"/api/alert-rules/{rule['id']}", json={"site_id": 99999}).status_code == 422
    assert api.delete(f"/api/alert-rules/{rule['id']}").json()["name"] == "Lab PM"
    assert api.get(f"/api/alert-rules/{rule['id']}").status_code == 404


def test_the_compliance_report_as_json_and_csv(api):
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))  # yesterday, UTC (the site's zone)
    start = int(time.mktime(time.strptime(day, "%Y-%m-%d"))) - time.timezone + 10 * 3600  # 10:00 UTC
    readings = [
        {"sensor_id": "rep-1", "enseigne": "Report", "salle": "Class", "timestamp": start + 60 * i,
         "values": {"co2": 900 if i < 30 else 1500, "pm25": 20 if i < 15 else 5}}
        for i in range(60)
    ]  # fmt: skip
    assert api.post("/api/ingest", json=readings).status_code == 200
    params = {"enseigne": "Report", "salle": "Class", "start": day, "end": day}
    body = api.get("/api/reports/compliance", params=params).json()
    shares = {c["category"]: c["share_pct"] for c in body["co2"]["categories"]}
    # no opening hours: always open. 74 min covered: 59 between the readings, then the last one stands for
    # 15 min (the longest a reading counts); 30 of them at 900 ppm (category I), 44 at 1500 ppm (III)
    assert body["co2"]["covered_hours"] == round(74 / 60, 2)
    assert shares == {"I": round(3000 / 74, 1), "II": 0.0, "III": round(4400 / 74, 1), "IV": 0.0}
    assert body["pm25"]["above_share_pct"] == round(1500 / 74, 1) and "WHO" in body["references"]["pm25"]

    csv = api.get("/api/reports/compliance", params={**params, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    assert csv.text.splitlines()[1] == f"Report,Class,{day},{day},co2,I,<= 970 ppm,0.5,40.5"
    missing = api.get("/api/reports/compliance", params={**params, "salle": "Attic"})
    assert missing.status_code == 404
    bad = api.get("/api/reports/compliance", params={**params, "start": "soon"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "start"
