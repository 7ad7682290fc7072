"""Memory: the platform process's resident size (RSS) under a steady building load, then with dashboards open.

    python bench/memory.py [--rooms 200] [--every 5] [--minutes 60] [--tabs 50]

The platform runs as its own process on its embedded defaults (SQLite, demo off). `--rooms` sensors, one per
room, each send one reading every `--every` seconds over HTTP (spread over the interval, as real sensors
drift apart), for `--minutes`; the RSS is sampled every minute. Then headless Chromium opens `--tabs`
dashboard tabs, signed in, while the readings go on, and the RSS is sampled for three more minutes.
The reference, in the same run: the RSS of the same platform right after start-up, before any reading.
Issue 17's targets: under 300 MB after the hour, under 1 GB with the 50 tabs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform as host
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import PlatformProcess, device_key  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident set size of a process (Linux /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def feed(
    url: str, key: str, rooms: int, every_s: float, stop: threading.Event, sent: list[int]
) -> None:
    """One reading per room every `every_s`, the rooms spread evenly over the interval."""
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
        started = time.monotonic()
        tick = 0
        while not stop.is_set():
            room = tick % rooms
            due = started + tick * every_s / rooms
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            phase = (tick // rooms) % 720  # a slow daily-like swing, so scores and alerts have work
            body = {
                "sensor_id": f"mem-{room}",
                "enseigne": "Memory",
                "salle": f"Room {room:03d}",
                "values": {
                    "co2": 450 + (phase * 3 + room * 7) % 900,
                    "pm25": 5 + room % 20,
                    "tvoc": 150 + room % 300,
                    "temperature": 20 + (room % 40) / 10,
                    "humidity": 40 + room % 20,
                },
            }
            answer = await client.post("/api/ingest", content=orjson.dumps(body))
            answer.raise_for_status()
            sent[0] += 1
            tick += 1


def open_tabs(server: PlatformProcess, count: int, hold_s: float, samples: list[tuple[float, float]]) -> None:
    """`count` dashboard tabs of one signed-in browser, held open `hold_s` while the RSS is sampled."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM_ARGS, chromium
    from tests.support.servers import browser_sign_in

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            first = context.new_page()
            browser_sign_in(first, server, "/")
            pages = [first]
            for n in range(count - 1):
                page = context.new_page()
                # generous: on 2 cores the browser drawing 50 tabs of 200 tiles competes with the server
                page.goto(server.anonymous_url + "/", wait_until="domcontentloaded", timeout=300_000)
                pages.append(page)
                if (n + 2) % 10 == 0:
                    print(f"  {n + 2} tabs: RSS {rss_mb(server.proc.pid):6.1f} MB", flush=True)
            for page in pages:  # every tab's websocket connected and its tiles drawn
                page.locator(".q-card", has_text="Room 000").first.wait_for(timeout=300_000)
            print(f"  {count} tabs drawn: RSS {rss_mb(server.proc.pid):6.1f} MB", flush=True)
            started = time.monotonic()
            while time.monotonic() - started < hold_s:
                samples.append((time.monotonic() - started, rss_mb(server.proc.pid)))
                print(f"  tabs open {samples[-1][0]:5.0f} s  RSS {samples[-1][1]:6.1f} MB", flush=True)
                time.sleep(20)
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between two readings of a room")
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--tabs", type=int, default=50)
    parser.add_argument("--hold", type=float, default=180, help="seconds the tabs stay open")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="iaq-bench-memory-"))
    # the demo off: its simulated rooms are not the load measured here
    server = PlatformProcess(work / "data", IAQ_LOG_LEVEL="WARNING", IAQ_DEMO="0").start()
    stop, sent = threading.Event(), [0]
    samples: list[tuple[float, float, int]] = []
    tab_samples: list[tuple[float, float]] = []
    try:
        time.sleep(5)  # the heap frozen after start-up (app/core/heap.py)
        baseline = rss_mb(server.proc.pid)
        with httpx.Client(base_url=server.url, timeout=10) as admin:
            key = device_key(admin, "Memory")
        feeder = threading.Thread(
            target=lambda: asyncio.run(feed(server.anonymous_url, key, args.rooms, args.every, stop, sent)),
            daemon=True,
        )
        feeder.start()
        started = time.monotonic()
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(min(60.0, max(1.0, args.minutes * 60 - (time.monotonic() - started))))
            samples.append(((time.monotonic() - started) / 60, rss_mb(server.proc.pid), sent[0]))
            print(
                f"  {samples[-1][0]:5.1f} min  RSS {samples[-1][1]:6.1f} MB  readings {sent[0]}", flush=True
            )
            if not feeder.is_alive():
                raise SystemExit("the feeder stopped: see the error above")
        if args.tabs:
            open_tabs(server, args.tabs, args.hold, tab_samples)
    finally:
        stop.set()
        server.stop()
    load = os.getloadavg()
    print(
        f"machine: {host.node()} {host.machine()} {os.cpu_count()} cores, Python {host.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(f"reference: RSS after start-up, before any reading: {baseline:.0f} MB")
    peak = max(s[1] for s in samples)
    print(
        f"{args.rooms} rooms, a reading each every {args.every:g} s, {args.minutes:g} min "
        f"({sent[0]} readings): RSS {samples[-1][1]:.0f} MB at the end (peak {peak:.0f} MB), "
        f"{samples[-1][1] / baseline:.2f}x the reference (target < 300 MB)"
    )
    if tab_samples:
        peak = max(s[1] for s in tab_samples)
        print(
            f"with {args.tabs} dashboard tabs open for {args.hold:g} s: RSS peak {peak:.0f} MB, "
            f"{peak / baseline:.2f}x the reference (target < 1000 MB)"
        )


if __name__ == "__main__":
    main()
