"""The digital twin in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright, against
the platform in demo mode. Checks what only a browser can: three.js draws the rooms, and a CO₂ spike
recolours its room without a reload."""

from __future__ import annotations

import shutil
import struct
import time
import zlib
from pathlib import Path

import httpx
import pytest

from app.domain.score import LEVEL_COLOURS

from .servers import browser_sign_in, platform

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--no-sandbox",  # the tests run as root in CI containers
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The colour of a room's volume, read from the three.js scene of the page (names: components/room_scene.py).
VOLUME_COLOUR_JS = """(name) => {
    const element = document.querySelector('.nicegui-scene');
    const scene = element && getElement(element)?.scene;
    const volume = scene && scene.getObjectByName(name);
    return volume && volume.material ? '#' + volume.material.color.getHexString() : null;
}"""


def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium is missing: the browser test needs it (`apt-get install chromium`)")
    return path


def png_colours(data: bytes) -> set[bytes]:
    """The distinct pixel colours of an 8-bit RGB or RGBA PNG (what Chromium's screenshots are)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour_type in (2, 6), f"unexpected PNG format {depth}/{colour_type}"
            size = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * size
    previous, colours = bytearray(stride), set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):  # undo the row filter (PNG spec, section 9)
            left = line[i - size] if i >= size else 0
            up, up_left = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
        colours.update(bytes(line[i : i + 3]) for i in range(0, stride, size))
        previous = line
    return colours


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
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with platform(
        tmp_path / "data", IAQ_DEMO="1", IAQ_DEMO_INTERVAL="1", IAQ_DEMO_BACKFILL_HOURS="0"
    ) as server:
        rooms = demo_rooms(server.url)
        meeting = rooms["Meeting room"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                browser_sign_in(page, server, "/twin")
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
                assert httpx.post(server.url + "/api/ingest", json=spike, timeout=5).status_code == 201
                page.wait_for_function(
                    f"() => ({VOLUME_COLOUR_JS})({volume!r}) === {LEVEL_COLOURS['bad']!r}", timeout=10_000
                )
                page.screenshot(path=str(tmp_path / "twin-spike.png"))
                assert not errors, errors
            finally:
                browser.close()
