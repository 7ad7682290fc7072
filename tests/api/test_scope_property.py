"""No object of another site reaches a site-limited account, whatever it asks: generated requests over every
read operation of the platform's own OpenAPI document, with random combinations of every parameter it
declares (and some it does not), repeated and empty values included, against a real platform process.

The other site's names and one of its readings' values are markers no answer to the limited account may
hold, unless the request itself carried that text (a refusal may name what it refuses)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from contextlib import closing
from urllib.parse import urlencode

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.servers import platform

pytestmark = pytest.mark.slow  # make test runs it; make test-fast leaves it out

PASSWORD = "a-long-enough-password"
MINE = {"site": "Site A", "room": "Bureau A", "sensor": "a1", "module": "fan-a"}
THEIRS = {"site": "Zsecret site", "room": "Zsecret room", "sensor": "zsecret-sensor", "module": "zsecret-fan"}
THEIR_CO2 = 1777.25  # no reading of the account's own site has this value
NAMES = [*MINE.values(), *THEIRS.values(), "", "Nowhere", "site a", "Site A ", "Bureau%20A"]
# parameters no operation declares, but a handler reading the query by hand might
UNDECLARED = ("site", "room", "sensor", "room_id", "site_id", "sensor_pk", "enseigne[]")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A platform with two sites holding readings, modules, actions and alerts, and `ana`, a viewer
    limited to the first site."""
    quiet = {"IAQ_ALERTS": "1", "IAQ_ALERT_INTERVAL": "3600"}
    with platform(tmp_path_factory.mktemp("scope-property") / "data", **quiet) as server:
        ids: dict[str, list[int]] = {"alert": [], "module": [], "action": []}
        start = int(time.time()) - 20 * 60
        with httpx.Client(base_url=server.url, timeout=10) as admin:
            for names, co2 in ((MINE, 1650.5), (THEIRS, THEIR_CO2)):
                readings = [
                    {"sensor_id": names["sensor"], "enseigne": names["site"], "salle": names["room"],
                     "timestamp": start + 60 * i, "values": {"co2": co2, "temperature": 21.5}}
                    for i in range(10)
                ]  # fmt: skip
                assert admin.post("/api/ingest", json=readings).status_code == 200
                module = {"enseigne": names["site"], "salle": names["room"], "module_type": "ventilation",
                          "name": names["module"]}  # fmt: skip
                made = admin.post("/api/modules", json=module)
                assert made.status_code == 201, made.text
                ids["module"].append(made.json()["id"])
                turn_on = {**module, "module": names["module"], "action_type": "turn_on"}
                del turn_on["name"]
                done = admin.post("/api/execute-action", json=turn_on)
                assert done.status_code == 200, done.text
                ids["action"] += [a["id"] for a in done.json()["actions"]]
            deadline = time.monotonic() + 15
            while len(ids["alert"]) < 2:
                assert time.monotonic() < deadline, "the CO2 excess raised no alert on both sites"
                ids["alert"] = sorted({a["id"] for a in admin.get("/api/alerts").json()})
                time.sleep(0.2)
            user = {"name": "ana", "role": "viewer", "password": PASSWORD, "sites": [MINE["site"]]}
            assert admin.post("/api/auth/users", json=user).status_code == 201
            schema = admin.get("/openapi.json").json()
        ana = httpx.Client(
            base_url=server.anonymous_url, timeout=10, headers={"Origin": server.anonymous_url}
        )
        assert ana.post("/api/auth/login", json={"name": "ana", "password": PASSWORD}).status_code == 200
        with closing(ana):
            yield server, ana, schema, ids


def read_operations(schema: dict) -> list[tuple[str, list[dict]]]:
    return [
        (path, item["get"].get("parameters", []))
        for path, item in schema["paths"].items()
        if "get" in item and not path.startswith(("/health", "/api/auth/me"))
    ]


def leaked(text: str, request: str) -> list[str]:
    """The other site's markers in an answer, leaving out those the request itself carried."""
    markers = [*THEIRS.values(), f"{THEIR_CO2}"]
    return [m for m in markers if m.lower() in text.lower() and m.lower() not in request.lower()]


def test_no_answer_to_a_limited_account_holds_another_sites_object(world) -> None:
    _, ana, schema, ids = world
    operations = read_operations(schema)
    assert len(operations) >= 25, [path for path, _ in operations]
    object_ids = [*ids["alert"], *ids["module"], *ids["action"], 1, 2, 0, 2**63, -1]

    likely = {  # what each parameter usually holds, so that many requests reach data; anything else too
        "enseigne": [MINE["site"], THEIRS["site"]],
        "site": [MINE["site"], THEIRS["site"]],
        "salle": [MINE["room"], THEIRS["room"]],
        "room": [MINE["room"], THEIRS["room"]],
        "sensor_id": [MINE["sensor"], THEIRS["sensor"]],
        "raw": ["true", "false"],
        "format": ["json", "csv"],
        "metric": ["co2"],
        "hours": ["1", "24"],
    }
    anything = st.sampled_from(NAMES) | st.sampled_from(["true", "false", "1", "24", "csv", "json", "co2"])

    def value(name: str) -> st.SearchStrategy:
        if name.endswith("_id") and name != "sensor_id":
            return st.sampled_from([str(i) for i in object_ids])
        if name in likely:
            return st.sampled_from(likely[name]) | anything
        return anything

    @st.composite
    def requests(draw) -> tuple[str, list[tuple[str, str]]]:
        path, parameters = draw(st.sampled_from(operations))
        path = re.sub(r"\{([^}]+)\}", lambda m: draw(value(m.group(1))), path)
        query: list[tuple[str, str]] = []
        names = [p["name"] for p in parameters if p["in"] == "query"]
        for name in names + draw(st.lists(st.sampled_from(UNDECLARED), max_size=2)):
            for _ in range(draw(st.sampled_from([0, 1, 1, 2]))):  # absent, once, or repeated
                query.append((name, draw(value(name))))
        return path, draw(st.permutations(query))

    seen = {"ok": 0, "own data": 0}

    @given(request=requests())
    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(request) -> None:
        path, query = request
        target = path + ("?" + urlencode(query) if query else "")
        answer = ana.get(target)
        seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, (target, answer.status_code, answer.text[:300])
        found = leaked(answer.text, " ".join([path, *(v for _, v in query)]))
        assert not found, (target, answer.status_code, found, answer.text[:500])
        if answer.status_code == 200:
            seen["ok"] += 1
            seen["own data"] += MINE["site"] in answer.text

    check()
    # the generated requests reached data, not only refusals
    assert seen["ok"] > 50 and seen["own data"] > 20, seen


def test_the_markers_would_be_seen_if_they_leaked(world) -> None:
    """The same answers, asked by an unrestricted admin, do hold the other site's markers: the property
    above can fail."""
    server, _, _, ids = world
    with httpx.Client(base_url=server.url, timeout=10) as admin:
        for target in ("/api/iaq/data?raw=true", "/api/alerts", "/api/actions", "/api/modules/states",
                       f"/api/alerts/{ids['alert'][-1]}"):  # fmt: skip
            assert leaked(admin.get(target).text, target), target


async def test_a_limited_accounts_socket_never_carries_another_sites_events(world) -> None:
    server, ana, _, _ = world
    token = ana.post("/api/auth/tokens", json={"name": "live"}).json()["token"]
    url = server.anonymous_url.replace("http://", f"ws://ana:{token}@") + "/ws"
    topics = ["measurements", "alerts", "actions", "module_states", "predictions"]
    sent = []
    async with websockets.connect(url) as ws:
        for named in (
            {},
            {"enseigne": THEIRS["site"]},
            {"enseigne": THEIRS["site"], "salle": THEIRS["room"]},
        ):
            sent.append(json.dumps({"type": "subscribe", "topics": topics, **named}))
            await ws.send(sent[-1])
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as admin:
            for names in (THEIRS, MINE):
                body = {"sensor_id": names["sensor"], "enseigne": names["site"], "salle": names["room"],
                        "values": {"co2": THEIR_CO2 if names is THEIRS else 640.5}}  # fmt: skip
                assert (await admin.post("/api/ingest", json=body)).status_code == 200
        messages: list[str] = []
        while not messages or "640.5" not in messages[-1]:  # the own site's reading, sent last
            messages.append(await asyncio.wait_for(ws.recv(), 10))
    refusals = [m for m in messages if json.loads(m)["type"] == "error"]
    assert len(refusals) == 2  # both subscriptions naming the other site were refused
    assert not [m for m in messages if leaked(m, "".join(sent) if m in refusals else "")], messages
