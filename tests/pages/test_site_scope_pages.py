"""Accounts limited to some sites, on the pages (NiceGUI's simulated user): they see and change only their
sites."""

from __future__ import annotations

import time

from nicegui.testing import User

from app.core.bus import EventBus, Measurement
from services.scope import ScopedBus
from tests.support.pages import CLEAN, click, reading, room_id
from tests.support.waiting import eventually

PASSWORD = "a-long-enough-password"


async def two_sites(runtime) -> tuple[int, int]:
    await runtime.ingestion.ingest(reading("Bureau A", site="Site A", sensor="a1"))
    await runtime.ingestion.ingest(reading("Salle B", site="Site B", sensor="b1"))
    return await room_id(runtime, "Bureau A"), await room_id(runtime, "Salle B")


async def signed_in(create_user, runtime, name: str, role: str, sites: list[str] | None) -> User:
    runtime.accounts.create_user_sync(name, role, PASSWORD, sites)
    someone: User = create_user()
    answer = await someone.http_client.post("/api/auth/login", json={"name": name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return someone


# -- pages
async def test_a_viewer_scoped_to_a_site_sees_its_rooms_only_on_every_page(create_user, runtime) -> None:
    room_a, room_b = await two_sites(runtime)
    ana = await signed_in(create_user, runtime, "ana", "viewer", ["Site A"])
    await ana.open("/")
    await ana.should_see(marker=f"room-{room_a}")
    await ana.should_not_see(marker=f"room-{room_b}")
    await ana.should_not_see("Site B")

    await ana.open(f"/rooms/{room_b}")
    await ana.should_see(marker="room-refused")
    await ana.should_not_see("Salle B")
    await ana.open(f"/rooms/{room_a}")
    await ana.should_see(marker="room-site")

    # each page's choice of sites or rooms offers A's only
    for path, marker in (("/alerts", "filter-site"), ("/reports", "report-room"), ("/models", "train-room")):
        await ana.open(path)
        options = str(ana.find(marker=marker).elements.pop().options)
        assert "Site A" in options and "Site B" not in options, (path, options)
    await ana.open("/modules")
    await ana.should_see("Site A · Bureau A")
    await ana.should_not_see("Salle B")
    await ana.open("/twin")
    await ana.should_see("Twin · Site A")
    await ana.should_not_see(marker="twin-site")  # no choice of site: A is the only one it may see
    site_b = next(s["id"] for s in await runtime.config.list_sites() if s["name"] == "Site B")
    await ana.open(f"/twin/{site_b}")
    await ana.should_see(marker="twin-refused")
    await ana.should_not_see("Salle B")
    assert (await ana.http_client.get("/settings")).status_code == 403


async def test_the_open_dashboard_of_a_scoped_viewer_gets_only_its_sites_live(create_user, runtime) -> None:
    await two_sites(runtime)
    ana = await signed_in(create_user, runtime, "ana", "viewer", ["Site A"])
    await ana.open("/")
    await runtime.ingestion.ingest(reading("Salle B2", site="Site B", sensor="b2"))
    await runtime.ingestion.ingest(reading("Bureau A2", site="Site A", sensor="a2"))
    await ana.should_see("Bureau A2", retries=30)  # the newer reading is on screen, so the older one was seen
    await ana.should_not_see("Salle B2")


async def test_the_filtered_bus_passes_only_the_principals_sites() -> None:
    bus, seen = EventBus(), []
    scoped = ScopedBus(bus, frozenset({"Site A"}))
    scoped.measurements.subscribe(lambda batch: seen.append([m.site for m in batch]))
    scoped.alerts.subscribe(lambda alert: seen.append(alert["enseigne"]))
    scoped.config_changed.subscribe(lambda: seen.append("config"))
    now = int(time.time() * 1000)
    bus.measurements.emit([Measurement("a1", "Site A", "Bureau A", 1, now, {"co2": 1.0}),
                           Measurement("b1", "Site B", "Salle B", 2, now, {"co2": 2.0})])  # fmt: skip
    bus.measurements.emit([Measurement("b1", "Site B", "Salle B", 2, now, {"co2": 3.0})])
    bus.alerts.emit({"enseigne": "Site B", "id": 1})
    bus.alerts.emit({"enseigne": "Site A", "id": 2})
    bus.alerts.emit({"id": 3})  # names no site: hidden from a limited principal
    bus.config_changed.emit()
    await eventually(lambda: len(seen) >= 3)
    assert seen == [["Site A"], "Site A", "config"]


async def test_an_operator_scoped_to_a_site_acts_there_and_nowhere_else(create_user, runtime) -> None:
    await runtime.ingestion.ingest(reading("Bureau A", site="Site A", sensor="a1", **CLEAN))
    await runtime.ingestion.ingest(reading("Salle B", site="Site B", sensor="b1", **CLEAN))
    fan_a = await runtime.modules.add_module("Site A", "Bureau A", "ventilation")
    fan_b = await runtime.modules.add_module("Site B", "Salle B", "ventilation")
    otto = await signed_in(create_user, runtime, "otto", "operator", ["Site A"])

    await otto.open("/modules")
    await otto.should_see("Off", marker=f"module-{fan_a['id']}-state")
    await otto.should_not_see(marker=f"module-{fan_b['id']}-state")
    otto.find(marker=f"module-{fan_a['id']}-turn_on").click()
    await eventually(lambda: runtime.modules.module(fan_a["id"]).state == {"on": True})

    site_a = next(s["id"] for s in await runtime.config.list_sites() if s["name"] == "Site A")
    await otto.open(f"/twin/{site_a}")
    await otto.should_see("Twin · Site A")
    # B's module is not drawn; a click naming it anyway (a crafted socket message) is refused
    click_b = {"object_name": f"module:{fan_b['id']}", "object_id": "x", "point": {"x": 1, "y": 1, "z": 1}}
    _trigger_click(otto, click_b)
    await otto.should_see("otto may not act on the site Site B")
    assert runtime.modules.module(fan_b["id"]).state == {"on": False}
    assert await runtime.modules.history("Site B", "Salle B", limit=10) == []
    click(otto, f"module:{fan_a['id']}")  # its own site's module: switched back off, once confirmed
    await otto.should_see(marker="confirm-dialog")
    otto.find(marker="confirm").click()
    await eventually(lambda: runtime.modules.module(fan_a["id"]).state == {"on": False})


def _trigger_click(user: User, hit: dict) -> None:
    from nicegui import ui

    args = {"hits": [hit], "click_type": "click", "button": 0}
    user.find(ui.scene).trigger(
        "click3d", {**args, **dict.fromkeys(("alt_key", "ctrl_key", "meta_key", "shift_key"), False)}
    )


async def test_a_site_scoped_admin_runs_its_sites_but_not_the_settings(create_user, runtime) -> None:
    room_a, room_b = await two_sites(runtime)
    adam = await signed_in(create_user, runtime, "adam", "admin", ["Site A"])
    answer = await adam.http_client.get("/settings")
    assert answer.status_code == 403 and "unrestricted accounts only" in answer.text
    users = await adam.http_client.get("/api/auth/users")
    assert users.status_code == 200 and [u["name"] for u in users.json()] == ["adam"]  # its sites' only
    await adam.open("/modules")
    adam.find(marker=f"room-{room_a}-mode").elements.pop().set_value("auto")
    await eventually(lambda: runtime.automation.room_settings(room_a)["mode"] == "auto")
    await adam.should_not_see(marker=f"room-{room_b}-mode")


# -- HTTP and /ws against a real process
