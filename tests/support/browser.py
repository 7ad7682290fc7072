"""Headless Chromium for the browser tests and benchmarks: Debian's `chromium`, driven by Playwright."""

from __future__ import annotations

import re
import shutil
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

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


@contextmanager
def signed_in_page(
    server, path: str = "/", *, width: int = 1280, height: int = 900, locale: str = "en-US"
) -> Iterator[tuple]:
    """Headless Chromium at `width` × `height` asking for `locale` (its Accept-Language), signed in as the
    first admin through the sign-in page and landed on `path`: yields (page, errors), the uncaught errors of
    the page's scripts as they happen."""
    from playwright.sync_api import sync_playwright

    from .servers import browser_sign_in

    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, locale=locale)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            browser_sign_in(page, server, path)
            yield page, errors
        finally:
            browser.close()


def server_errors(server) -> list[str]:
    """The lines of a platform process's log that report an error."""
    log = server.log_path.read_text(errors="replace")
    return [line for line in log.splitlines() if re.search(r" ERROR |Traceback|RuntimeError", line)]
