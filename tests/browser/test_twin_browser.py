"""The digital twin in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright, against
the platform in demo mode. Checks what only a browser can: three.js draws the rooms, and a CO₂ spike
recolours its room without a reload."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from app.core.domain.score import LEVEL_COLOURS
from tests.support.browser import VOLUME_COLOUR_JS, png_colours, signed_in_page
from tests.support.servers import platform

# The colour of a room's volume, read from the three.js scene of the page (names: components/room_scene.py).


def demo_rooms(url: str, timeout_s: float = 20) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sites = httpx.get(url + "/api/config/sites", timeout=5).json()
        rooms = {r["name"]: r for s in sites if s["name"] == "Head office" for r in s["rooms"]}
        if rooms:
            return rooms
        time.sleep(0.2)
    raise AssertionError("the demo site was not registered in time")


def test_the_twin_draws_the_demo_site_and_a_co2_spike_recolours_its_room(tmp_path: Path) -> None:
    with platform(
        tmp_path / "data", IAQ_DEMO="1", IAQ_DEMO_INTERVAL="1", IAQ_DEMO_BACKFILL_HOURS="0"
    ) as server:
        rooms = demo_rooms(server.url)
        meeting = rooms["Meeting room"]
        with signed_in_page(server, "/twin") as (page, errors):
            # wait, in real time, until every room's volume exists in the scene with a colour
            names = [f"room:{r['id']}" for r in rooms.values()]
            page.wait_for_function(
                f"() => {names!r}.every(name => ({VOLUME_COLOUR_JS})(name))", timeout=20_000
            )
            page.wait_for_timeout(500)  # a few frames at the scene's 20 fps
            shot = tmp_path / "twin.png"
            page.locator(".nicegui-scene canvas").first.screenshot(path=str(shot))
            colours = png_colours(shot.read_bytes())
            assert len(colours) > 50, f"the canvas looks blank ({len(colours)} colours), errors: {errors}"

            volume = f"room:{meeting['id']}"
            before = page.evaluate(VOLUME_COLOUR_JS, volume)
            assert before != LEVEL_COLOURS["bad"], "the simulated meeting room starts with fresh air"
            # stamped a minute ahead, so that the simulator's next readings do not replace it at once
            spike = {
                "sensor_id": meeting["sensors"][0],
                "enseigne": "Head office",
                "salle": "Meeting room",
                "timestamp": time.time() + 60,
                "values": {"co2": 5000},
            }
            assert httpx.post(server.url + "/api/ingest", json=spike, timeout=5).status_code == 200
            page.wait_for_function(
                f"() => ({VOLUME_COLOUR_JS})({volume!r}) === {LEVEL_COLOURS['bad']!r}", timeout=10_000
            )
            page.screenshot(path=str(tmp_path / "twin-spike.png"))
            assert not errors, errors
