"""Digital twin under load: a site of 50 rooms fed every second, open in headless Chromium.

    python bench/twin.py [--rooms 100] [--seconds 30]

The platform runs without its own demo; the simulator (`python -m services.simulator`) feeds `--rooms`
rooms over HTTP every second (its extra rooms alternate between the two demo sites, so 100 rooms give the
Head office 50). Chromium (Debian's package, through Playwright) opens `/twin` of the Head office and stays
there. Measured: the platform's CPU use, the WebSocket frames and bytes the page receives per second, and
how long a CO₂ spike takes from its POST to the room's colour in the browser's three.js scene.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import CHROMIUM_ARGS, VOLUME_COLOUR_JS, chromium  # noqa: E402
from tests.support.servers import PlatformProcess, browser_sign_in  # noqa: E402

FPS_JS = """() => new Promise(done => {
    let frames = 0;
    const start = performance.now();
    const count = () => {
        frames++;
        if (performance.now() - start < 5000) requestAnimationFrame(count);
        else done(frames / 5);
    };
    requestAnimationFrame(count);
})"""


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime in clock ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        server = PlatformProcess(Path(tmp) / "data").start()
        command = [
            sys.executable,
            "-m",
            "services.simulator",
            "--url",
            server.url,
            "--rooms",
            str(args.rooms),
        ]
        feeder = subprocess.Popen(
            [*command, "--interval", "1", "--backfill-hours", "0"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:  # until the simulator's rooms are registered
                sites = httpx.get(server.url + "/api/config/sites", timeout=5).json()
                site = next((s for s in sites if s["name"] == "Head office"), None)
                if site and len(site["rooms"]) >= args.rooms // 2:
                    break
                time.sleep(0.5)
            rooms = site["rooms"]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                frames = [0, 0]

                def on_socket(ws) -> None:
                    def count(payload) -> None:
                        frames[0] += 1
                        frames[1] += len(payload)

                    ws.on("framereceived", count)

                page.on("websocket", on_socket)
                browser_sign_in(page, server, f"/twin/{site['id']}")
                names = [f"room:{r['id']}" for r in rooms]
                page.wait_for_function(f"() => {names!r}.every(n => ({VOLUME_COLOUR_JS})(n))", timeout=60_000)
                frames[:] = [0, 0]
                cpu0, t0 = cpu_s(server.proc.pid), time.monotonic()
                page.wait_for_timeout(max(0.0, args.seconds - 5) * 1000)
                fps = page.evaluate(FPS_JS)  # the last 5 s: does the browser keep drawing?
                elapsed = time.monotonic() - t0
                cpu = cpu_s(server.proc.pid) - cpu0
                room = rooms[1]
                spike = {
                    "sensor_id": room["sensors"][0],
                    "enseigne": "Head office",
                    "salle": room["name"],
                    "timestamp": time.time() + 60,
                    "values": {"co2": 5000},
                }
                started = time.monotonic()
                httpx.post(server.url + "/api/ingest", json=spike, timeout=5).raise_for_status()
                page.wait_for_function(
                    f"() => ({VOLUME_COLOUR_JS})('room:{room['id']}') === '#c62828'", timeout=30_000
                )
                latency = time.monotonic() - started
                browser.close()
        finally:
            feeder.terminate()
            feeder.wait(10)
            server.stop()
    print(f"rooms on the page: {len(rooms)} (simulator: {args.rooms} rooms, one reading each per second)")
    print(f"platform CPU: {100 * cpu / elapsed:.0f} % of one core over {elapsed:.0f} s")
    print(
        f"WebSocket to the page: {frames[0] / elapsed:.1f} frames/s, {frames[1] / elapsed / 1024:.1f} KiB/s"
    )
    print(f"browser animation frames: {fps:.0f} per second (the scene renders at 20)")
    print(f"CO2 spike to colour in the browser: {latency * 1000:.0f} ms")


if __name__ == "__main__":
    main()
