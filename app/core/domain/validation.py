"""Validation of configuration values: names, time zones, opening hours."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.i18n import _

from .readings import FieldError

MAX_ID = 2**63 - 1  # the databases' 64-bit integer keys: a larger id names nothing (and must not overflow)
MAX_DEPTH = 32  # JSON bodies nest at most this deep (a configuration export needs 6)
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules", "posix", "right", "leap-seconds.list"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME_OK = re.compile(r"^[^\x00-\x1f\x7f/]{1,128}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def check_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _NAME_OK.match(value.strip()):
        raise FieldError(
            field, _("must be 1 to 128 characters, without '/' or control characters")
        ).as_error()
    return value.strip()


def check_timezone(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise FieldError(field, _("must be an IANA time zone name such as Europe/Paris")).as_error()
    try:
        if value in _NOT_ZONES:  # files of the zoneinfo folder that are not IANA zone names
            raise ValueError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError(
            field, _("unknown time zone {value!r}; use an IANA name such as Europe/Paris").format(value=value)
        ).as_error() from None
    return value


def check_opening_hours(value: Any, field: str = "opening_hours") -> dict[str, list[list[str]]] | None:
    """`{"mon": [["08:00", "12:00"], ["13:00", "18:00"]], ...}` in the site's local time; None = always open.

    Days left out are closed. Each interval must end after it starts; intervals must not overlap.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldError(field, _('must be an object like {"mon": [["08:00", "18:00"]]}')).as_error()
    out: dict[str, list[list[str]]] = {}
    for day, spans in value.items():
        where = f"{field}.{day}"
        if day not in WEEKDAYS:
            raise FieldError(
                where, _("is not a weekday; use {choices}").format(choices=", ".join(WEEKDAYS))
            ).as_error()
        if not isinstance(spans, list):
            raise FieldError(where, _('must be a list of ["HH:MM", "HH:MM"] pairs')).as_error()
        clean = []
        for i, span in enumerate(spans):
            if (
                not isinstance(span, list | tuple)
                or len(span) != 2
                or not all(isinstance(t, str) and _HHMM.match(t) for t in span)
            ):
                raise FieldError(
                    f"{where}[{i}]", _('must be a pair of times like ["08:00", "18:00"]')
                ).as_error()
            if span[0] >= span[1]:
                raise FieldError(
                    f"{where}[{i}]",
                    _("ends at {end}, not after it starts at {start}").format(end=span[1], start=span[0]),
                ).as_error()
            clean.append([span[0], span[1]])
        clean.sort()
        for a, b in pairwise(clean):
            if b[0] < a[1]:
                raise FieldError(
                    where,
                    _("intervals {a0}-{a1} and {b0}-{b1} overlap").format(a0=a[0], a1=a[1], b0=b[0], b1=b[1]),
                ).as_error()
        out[day] = clean
    return out
