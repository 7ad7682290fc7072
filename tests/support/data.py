"""Made-up inputs shared by several tests: a minimal .glb file, an office's CO2 day, the CLI as run."""

from __future__ import annotations

import math
import struct
import subprocess
import sys

from .env import ROOT, server_env
from .servers import free_port


def glb(version: int = 2, extra: bytes = b"") -> bytes:
    body = b'{"asset":{"version":"2.0"}}'.ljust(28) + extra
    chunk = struct.pack("<I4s", len(body), b"JSON") + body
    return struct.pack("<4sII", b"glTF", version, 12 + len(chunk)) + chunk


def office_day(now_s: float, days: float = 3, step_s: float = 60) -> list[tuple[float, float]]:
    """CO2 of a room by the mass balance, occupied twice a day: three hours ending three hours before `now`
    (time of day), and four hours starting 15 minutes before it, so that at `now` the room is filling up
    and the last hours hold a whole rise and decay."""
    out, x, t = [], 0.0, now_s - days * 86400
    while t <= now_s:
        into = (t - (now_s - 15 * 60)) % 86400
        occupied = into < 4 * 3600 or 86400 - 6 * 3600 <= into < 86400 - 3 * 3600
        x += -0.02 * x + (25.0 if occupied else 0.0)  # ppm per minute while occupied
        out.append((t, 420 + x + 4 * math.sin(t / 97)))
        t += step_s
    return out


def run_cli(
    *args: str, data_dir, port: int | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """The command as an operator runs it; IAQ_PORT is where it looks for a running platform."""
    env = server_env(IAQ_DATA_DIR=str(data_dir), IAQ_PORT=str(port or free_port()), **(env or {}))
    command = [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
