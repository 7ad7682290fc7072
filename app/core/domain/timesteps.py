"""Aggregation steps (`1min`, `5min`, `1h`, `1d`) and time ranges."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_STEP = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|hour|d|day)s?\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
MIN_STEP_S = 10
MAX_POINTS = 20_000


def parse_step(text: str) -> int:
    """`5min` -> 300 seconds. Raises ValueError with a message for the `step` field."""
    match = _STEP.match(text or "")
    if not match:
        raise ValueError(f"cannot read {text!r}; use a number and a unit such as 1min, 5min, 1h or 1d")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2).lower()]
    if seconds < MIN_STEP_S:
        raise ValueError(f"must be at least {MIN_STEP_S} seconds")
    if seconds > 86400 and seconds % 86400:
        raise ValueError("steps longer than a day must be whole days")
    return seconds


def format_step(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def to_ms(ts) -> int:
    """An aware datetime -> milliseconds since 1970-01-01 UTC (rounded: .123 s must not become 122 ms)."""
    return round(ts.timestamp() * 1000)


def iso_ms(ts_ms: int) -> str:
    """Milliseconds since the epoch -> ISO 8601 UTC text with a `Z`, milliseconds only when there are some."""
    dt = datetime.fromtimestamp(ts_ms / 1000, UTC)
    text = dt.isoformat(timespec="milliseconds" if ts_ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")
