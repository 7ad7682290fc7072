"""Every page on a 390 px phone and a 1280 px desktop, in headless Chromium against the platform in demo mode:
nothing overflows sideways, the navigation is a menu on the phone and a row of links on the desktop, the
twin's canvas has a width, and the server logs no error while the pages are used."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.browser import server_errors, signed_in_page
from tests.support.servers import platform

PAGES = ["/", "/alerts", "/compare", "/modules", "/models", "/reports", "/settings", "/twin"]
WIDTH_JS = "() => [document.documentElement.scrollWidth, window.innerWidth]"
CANVAS_JS = """() => {
    const canvas = document.querySelector('.nicegui-scene canvas');
    return canvas ? canvas.getBoundingClientRect().width : null;
}"""


def first_room(url: str, timeout_s: float = 20) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sites = httpx.get(url + "/api/config/sites", timeout=5).json()
        if sites and sites[0]["rooms"]:
            return sites[0]["rooms"][0]["id"]
        time.sleep(0.2)
    raise AssertionError("the demo site was not registered in time")


def test_every_page_fits_a_phone_and_a_desktop(tmp_path: Path) -> None:
    with platform(
        tmp_path / "data", IAQ_DEMO="1", IAQ_DEMO_INTERVAL="2", IAQ_DEMO_BACKFILL_HOURS="1"
    ) as server:
        pages = [*PAGES, f"/rooms/{first_room(server.url)}"]
        for width, height in ((390, 844), (1280, 900)):
            with signed_in_page(server, "/", width=width, height=height) as (page, errors):
                for path in pages:
                    page.goto(server.anonymous_url + path, wait_until="networkidle")
                    page.wait_for_timeout(1000)  # charts and the scene draw after the page loads
                    page.screenshot(path=str(tmp_path / f"{path.strip('/').replace('/', '-')}-{width}.png"))
                    scrolled, visible = page.evaluate(WIDTH_JS)
                    assert scrolled <= visible, f"{path} at {width} px is {scrolled} px wide"
                    menu, links = page.locator(".iaq-nav-menu"), page.locator(".iaq-nav")
                    if width < 1024:
                        assert menu.is_visible() and not links.is_visible(), path
                    else:
                        assert links.is_visible() and not menu.is_visible(), path
                    if path == "/twin":
                        page.wait_for_function(f"() => ({CANVAS_JS})() > 0", timeout=20_000)
                        assert page.evaluate(CANVAS_JS) > width / 2, f"twin canvas at {width} px"
                assert not errors, errors
        problems = server_errors(server)
        assert not problems, "\n".join(problems)
