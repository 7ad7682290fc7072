"""Accounts limited to some sites, over HTTP and `/ws` against a real platform process: they get only their
sites' data or a clear refusal."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import closing

import httpx
import pytest
import websockets

from tests.support.servers import device_key, platform

PASSWORD = "a-long-enough-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    alerts_on = {"IAQ_ALERTS": "1", "IAQ_ALERT_INTERVAL": "3600"}  # no offline check during these tests
    with platform(tmp_path_factory.mktemp("scope") / "data", **alerts_on) as srv:
        with httpx.Client(base_url=srv.url, timeout=10) as admin:
            for site, room, sensor in (("Site A", "Bureau A", "a1"), ("Site B", "Salle B", "b1")):
                body = {"sensor_id": sensor, "enseigne": site, "salle": room, "values": {"co2": 800}}
                assert admin.post("/api/ingest", json=body).status_code == 200
                module = {"enseigne": site, "salle": room, "module_type": "ventilation"}
                assert admin.post("/api/modules", json=module).status_code == 201
            for name, role in (("ana", "viewer"), ("otto", "operator"), ("adam", "admin")):
                user = {"name": name, "role": role, "password": PASSWORD, "sites": ["Site A"]}
                assert admin.post("/api/auth/users", json=user).status_code == 201
        yield srv


def sign_in(server, name: str) -> httpx.Client:
    client = httpx.Client(base_url=server.anonymous_url, timeout=10, headers={"Origin": server.anonymous_url})
    assert client.post("/api/auth/login", json={"name": name, "password": PASSWORD}).status_code == 200
    return client


def test_lists_without_a_filter_hold_only_the_scoped_viewers_sites(server) -> None:
    with closing(sign_in(server, "ana")) as ana:
        states = ana.get("/api/modules/states")
        assert states.status_code == 200 and list(states.json()["states"]) == ["Site A"]
        data = ana.get("/api/v2/iaq/data", params={"raw": "true"}).json()["data"]
        assert data and {row["enseigne"] for row in data} == {"Site A"}
        # every way of naming another site is refused, whichever parameter carries it
        for params in ({"enseigne": "Site B"}, {"enseigne": ["Site A", "Site B"]}, {"sensor_id": "b1"}):
            answer = ana.get("/api/v2/iaq/data", params=params)
            assert answer.status_code == 403, (params, answer.text)
        # a site that does not exist is refused in the same words as one that does (no probing)
        missing = ana.get("/api/alerts", params={"enseigne": "Nowhere"})
        assert missing.status_code == 403 and "Nowhere" in missing.json()["error"]
        # endpoints that concern the whole deployment stay refused to a site-limited account
        for path in ("/api/config/export", "/api/config/sites", "/api/models/list"):
            answer = ana.get(path, params={"enseigne": "Site A"})
            assert answer.status_code == 403, path
            assert "unrestricted accounts only" in answer.json()["error"]
        assert ana.get("/").status_code == 200  # the pages, filtered (tests above)
        refused = ana.get("/settings")
        assert refused.status_code == 403 and "This page is not for your account" in refused.text
        assert "This needs the role admin" in refused.text and "Go to the dashboard" in refused.text


def test_a_device_key_writes_only_into_rooms_of_its_own_site(server) -> None:
    """The key's site is checked where a reading would be stored, not against the names its body gives."""
    with httpx.Client(base_url=server.url, timeout=10) as admin:
        key = device_key(admin, "Site A", "gateway")
        before = len(
            admin.get("/api/v2/iaq/data", params={"enseigne": "Site B", "raw": "true"}).json()["data"]
        )
    device = httpx.Client(base_url=server.anonymous_url, timeout=10, headers={"X-API-Key": key})
    with device:
        ours = {"enseigne": "Site A", "salle": "Bureau A", "values": {"co2": 1999}}
        refused = device.post("/api/ingest", json={**ours, "sensor_id": "b1"})  # b1 is in Site B's room
        assert refused.status_code == 403 and "not in a room of it" in refused.text
        assert "Site B" not in refused.text  # the holder does not learn where the sensor is
        batch = [{**ours, "sensor_id": "a1", "timestamp": 1_780_000_000}, {**ours, "sensor_id": "b1"}]
        assert device.post("/api/ingest", json=batch).status_code == 403  # all or nothing
        legacy = device.post("/iaq", json={"capteur_id": "b1", "enseigne": "Site A", "salle": "Bureau A",
                                           "co2": 1999})  # fmt: skip
        assert legacy.status_code == 403
        named_theirs = device.post("/api/ingest", json={**ours, "sensor_id": "new-b", "enseigne": "Site B"})
        assert named_theirs.status_code == 403
        assert device.post("/api/ingest", json={**ours, "sensor_id": "a1"}).status_code == 200
    with httpx.Client(base_url=server.url, timeout=10) as admin:
        after = admin.get("/api/v2/iaq/data", params={"enseigne": "Site B", "raw": "true"}).json()["data"]
        assert len(after) == before and all(row["co2"] != 1999 for row in after)
        mine = admin.get("/api/v2/iaq/data", params={"sensor_id": "a1", "raw": "true"}).json()["data"]
        assert [row["timestamp"] for row in mine if row["co2"] == 1999] != []
        assert not [row for row in mine if row["timestamp"].startswith("2026-05-28")]  # the refused batch


def test_a_scoped_admin_manages_accounts_tokens_and_keys_of_its_sites_only(server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as admin:
        made = {}
        for name, sites in (("bea", ["Site B"]), ("mix", ["Site A", "Site B"]), ("carl", ["Site A"])):
            user = {"name": name, "role": "viewer", "password": PASSWORD, "sites": sites}
            made[name] = admin.post("/api/auth/users", json=user).json()["id"]
        root = next(u["id"] for u in admin.get("/api/auth/users").json() if u["name"] == "admin")
        device_key(admin, "Site B", "b-gateway")
        key_b = next(k for k in admin.get("/api/auth/keys").json() if k["name"] == "b-gateway")
        root_token = admin.post("/api/auth/tokens", json={"name": "root-script"}).json()
        with closing(sign_in(server, "bea")) as bea:
            bea_token = bea.post("/api/auth/tokens", json={"name": "bea-script"}).json()
        outside_users = (root, made["bea"], made["mix"])
        users_before = admin.get("/api/auth/users").json()
    with closing(sign_in(server, "adam")) as adam:
        listed = {u["name"] for u in adam.get("/api/auth/users").json()}
        assert listed == {"ana", "otto", "adam", "carl"}  # limited to Site A, nothing else
        assert "b-gateway" not in adam.get("/api/auth/keys").text
        assert {t["name"] for t in adam.get("/api/auth/all-tokens").json()} <= {"live"}
        refused = []
        for sites in (None, ["Site B"], ["Site A", "Site B"]):  # every account it could make outside
            user = {"name": f"escalated-{sites}", "role": "admin", "password": PASSWORD, "sites": sites}
            refused.append(adam.post("/api/auth/users", json=user))
        for user_id in outside_users:
            for change in ({"role": "viewer"}, {"sites": ["Site A"]}, {"disabled": True},
                           {"password": "taken-over-password"}):  # fmt: skip
                refused.append(adam.patch(f"/api/auth/users/{user_id}", json=change))
            refused.append(adam.delete(f"/api/auth/users/{user_id}"))
        refused.append(adam.patch(f"/api/auth/users/{made['carl']}", json={"sites": ["Site A", "Site B"]}))
        refused.append(adam.patch(f"/api/auth/users/{made['carl']}", json={"sites": None}))
        for token in (root_token, bea_token):
            refused.append(adam.delete(f"/api/auth/tokens/{token['id']}"))
        refused.append(adam.post("/api/auth/keys", json={"site": "Site B", "name": "forged"}))
        refused.append(adam.delete(f"/api/auth/keys/{key_b['id']}"))
        for path in ("/api/auth/audit", "/metrics", "/api/config/sites"):
            refused.append(adam.get(path))
        assert [
            (r.request.method, r.request.url.path, r.status_code) for r in refused if r.status_code != 403
        ] == []
        # within its sites it does manage
        assert adam.patch(f"/api/auth/users/{made['carl']}", json={"role": "operator"}).status_code == 200
        key_a = adam.post("/api/auth/keys", json={"site": "Site A", "name": "a-gateway"})
        assert key_a.status_code == 201 and key_a.json()["key"].startswith("iaqk_")
        assert adam.delete(f"/api/auth/users/{made['carl']}").status_code == 200
    with httpx.Client(base_url=server.url, timeout=10) as admin:
        after = {u["name"]: u for u in admin.get("/api/auth/users").json()}
        for before in users_before:  # nothing outside its sites changed
            if before["name"] != "carl":
                assert after[before["name"]] == before, before["name"]
        tokens = {t["id"]: t for t in admin.get("/api/auth/all-tokens").json()}
        assert not tokens[root_token["id"]]["revoked"] and not tokens[bea_token["id"]]["revoked"]
        keys = {k["id"]: k for k in admin.get("/api/auth/keys").json()}
        assert not keys[key_b["id"]]["revoked"] and "forged" not in {k["name"] for k in keys.values()}
        put = {"enseigne": "Site A", "salle": "Bureau A"}
    with closing(sign_in(server, "adam")) as adam:
        assert adam.put("/api/automation", params=put, json={"mode": "recommend"}).status_code == 200
        other = adam.put("/api/automation", params={"enseigne": "Site B", "salle": "Salle B"},
                         json={"mode": "recommend"})  # fmt: skip
        assert other.status_code == 403


def test_an_operator_scoped_to_a_site_acts_on_its_modules_only(server) -> None:
    turn_on = {"salle": "Bureau A", "module_type": "ventilation", "action_type": "turn_on"}
    with closing(sign_in(server, "otto")) as otto:
        refused = otto.post("/api/execute-action", json={**turn_on, "enseigne": "Site B", "salle": "Salle B"})
        assert refused.status_code == 403 and "Site B" in refused.json()["error"]
        done = otto.post("/api/execute-action", json={**turn_on, "enseigne": "Site A"})
        assert done.status_code == 200, done.text
    with httpx.Client(base_url=server.url, timeout=10) as admin:
        history = admin.get("/api/actions", params={"enseigne": "Site B"}).json()
        assert history == []  # nothing recorded for the refused command


def test_an_operator_scoped_to_a_site_handles_alerts_and_actions_of_that_site_only(server) -> None:
    start = int(time.time()) - 20 * 60
    alerts = {}
    with httpx.Client(base_url=server.url, timeout=10) as admin:
        for site, room in (("Site A", "Atelier A"), ("Site B", "Atelier B")):
            readings = [
                {"sensor_id": f"hot-{site}", "enseigne": site, "salle": room, "timestamp": start + 60 * i,
                 "values": {"co2": 1700}}
                for i in range(8)
            ]  # fmt: skip
            assert admin.post("/api/ingest", json=readings).status_code == 200
        deadline = time.monotonic() + 10
        while len(alerts) < 2:
            assert time.monotonic() < deadline, "no CO2 alert raised on both sites"
            for site in ("Site A", "Site B"):
                raised = admin.get("/api/alerts", params={"enseigne": site, "state": "active"}).json()
                for alert in raised:
                    if alert["metric"] == "co2":
                        alerts[site] = alert["id"]
            time.sleep(0.1)
        turn_on = {
            "enseigne": "Site B",
            "salle": "Salle B",
            "module_type": "ventilation",
            "action_type": "turn_on",
        }
        (action,) = admin.post("/api/execute-action", json=turn_on).json()["actions"]
    with closing(sign_in(server, "otto")) as otto:
        other = otto.post(f"/api/alerts/{alerts['Site B']}/acknowledge", json={})
        assert other.status_code == 403 and "another site" in other.json()["error"]
        assert otto.post(f"/api/actions/{action['id']}/dismiss").status_code == 403
        mine = otto.post(f"/api/alerts/{alerts['Site A']}/acknowledge", json={"comment": "on it"})
        assert mine.status_code == 200 and mine.json()["acknowledged_by"] == "otto"
    with httpx.Client(base_url=server.url, timeout=10) as admin:
        untouched = admin.get(f"/api/alerts/{alerts['Site B']}").json()
        assert untouched["state"] == "active"  # the refused acknowledgement changed nothing


async def test_ws_of_a_scoped_viewer_carries_only_its_sites(server) -> None:
    with closing(sign_in(server, "ana")) as ana:
        token = ana.post("/api/auth/tokens", json={"name": "live"}).json()["token"]
    url = server.anonymous_url.replace("http://", f"ws://ana:{token}@") + "/ws"
    async with websockets.connect(url) as ws:
        assert json.loads(await ws.recv())["type"] == "connection"
        await ws.send(json.dumps({"type": "unsubscribe", "topics": ["all"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        await ws.send(json.dumps({"type": "subscribe", "topics": ["measurements", "module_states"]}))
        assert json.loads(await ws.recv())["topics"] == ["measurements", "module_states"]
        async with httpx.AsyncClient(base_url=server.url) as admin:
            for site, room, sensor in (("Site B", "Salle B", "b1"), ("Site A", "Bureau A", "a1")):
                body = {"sensor_id": sensor, "enseigne": site, "salle": room, "values": {"co2": 950}}
                assert (await admin.post("/api/ingest", json=body)).status_code == 200
        seen = [json.loads(await asyncio.wait_for(ws.recv(), 10))]
        while seen[-1]["type"] != "measurement":  # a module's state from an earlier test may come first
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        assert seen[-1]["enseigne"] == "Site A"  # B's reading was sent first, and never arrives
        assert all(m.get("enseigne") in (None, "Site A") for m in seen)
        await ws.send(json.dumps({"type": "subscribe", "topics": ["measurements"], "enseigne": "Site B"}))
        refusal = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert refusal == {"type": "error", "message": "this account may not see the site 'Site B'"}
