"""Times as a person reads them: in the building's clock (the site's or the room's time zone), always with
the zone's name, since pages show rooms of several zones side by side and the audit log none at all."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.core.i18n import date_time


def _zone(name: str | None):
    if name:
        with contextlib.suppress(KeyError, ValueError):  # an unknown zone: UTC rather than a failed page
            return ZoneInfo(name)
    return UTC


def as_datetime(value: str | float | datetime | None) -> datetime | None:
    """An ISO 8601 text (`Z` or an offset; none means UTC), epoch milliseconds, or a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def local_time(
    value: str | float | datetime | None, zone: str | None, *, seconds: bool = False, zone_name: bool = True
) -> str:
    """`7 Dec 2026 21:05 Europe/Paris` (`7 déc. 2026 21:05 Europe/Paris` in French): the moment in `zone`
    (UTC when None) as the page's language writes it, with the zone's name (not an abbreviation: CST is three
    zones); "" for no time."""
    moment = as_datetime(value)
    if moment is None:
        return ""
    tz = _zone(zone)
    text = date_time(moment.astimezone(tz), seconds=seconds)
    return f"{text} {getattr(tz, 'key', 'UTC')}" if zone_name else text
