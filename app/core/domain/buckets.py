"""Merging fine aggregation buckets into calendar days of a site's local time (correct across DST changes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

Stats = dict[str, tuple[float, float, float, int]]  # metric -> sum, min, max, count


def local_day_start_ms(ts_ms: int, zone: ZoneInfo, days: int = 1) -> int:
    """Start (in UTC ms) of the `days`-long local calendar period holding `ts_ms`, counted from 1970-01-01."""
    local = datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if days > 1:
        ordinal = start.date().toordinal() - datetime(1970, 1, 1).date().toordinal()
        start -= timedelta(days=ordinal % days)
    # re-attach the zone so the offset of that midnight (not of `local`) is used
    start = datetime(start.year, start.month, start.day, tzinfo=zone)
    return int(start.astimezone(UTC).timestamp() * 1000)


def merge_stats(into: Stats, other: Stats) -> None:
    for metric, (total, lo, hi, n) in other.items():
        if metric in into:
            t0, l0, h0, n0 = into[metric]
            into[metric] = (t0 + total, min(l0, lo), max(h0, hi), n0 + n)
        else:
            into[metric] = (total, lo, hi, n)
