"""The compliance report of a room over a period of local days (see `app/core/domain/compliance.py`)."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.orm import Session, sessionmaker

from app.core.db.models import Room, Site
from app.core.domain.alerts import is_open_ms
from app.core.domain.compliance import CO2_CATEGORIES, REFERENCES, WHO_PM25_24H_UGM3, Sample, compliance
from app.core.domain.readings import FieldError
from app.core.domain.timesteps import to_ms
from app.core.i18n import _
from app.core.storage.base import TimeSeriesStore

from .rooms import room_row
from .scoring import ScoringService

MAX_DAYS = 366
PAGE = 50_000
CSV_HEADER = "enseigne,salle,start,end,measure,category,limit,hours,share_pct"


def _hours(ms: int) -> float:
    return round(ms / 3_600_000, 2)


def _pct(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


def _day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FieldError(
            field, _("must be a date such as 2026-11-01 (the site's local day)")
        ).as_error() from None


class ComplianceService:
    def __init__(self, *, sessions: sessionmaker[Session], store: TimeSeriesStore, scoring: ScoringService):
        self.sessions, self.store, self.scoring = sessions, store, scoring

    async def report(self, site: str, room: str, start: str | None = None, end: str | None = None) -> dict:
        """Shares of the room's occupied time (its site's opening hours, local time) in each EN 16798-1 CO2
        category and above the WHO 24-hour PM2.5 guideline, from `start` to `end` (local days, both
        included; by default the last 7 days up to today)."""
        first, last = _day(start, "start"), _day(end, "end")
        return await asyncio.to_thread(self._report, site, room, first, last, time.time())

    def _report(self, site: str, room: str, first: date | None, last: date | None, now: float) -> dict:
        with self.sessions() as s:
            row = room_row(
                s, site, room, Room.id, func.coalesce(Room.timezone, Site.timezone), Site.opening_hours
            )
        room_id, zone_name, hours = row
        zone = ZoneInfo(zone_name)
        last = last or datetime.fromtimestamp(now, zone).date()
        first = first or last - timedelta(days=6)
        if first > last:
            raise FieldError(
                "start", _("must not be after end ({isoformat})").format(isoformat=last.isoformat())
            ).as_error()
        if (last - first).days >= MAX_DAYS:
            raise FieldError(
                "start", _("the period is at most {MAX_DAYS} days").format(MAX_DAYS=MAX_DAYS)
            ).as_error()
        start_ms = to_ms(datetime.combine(first, clock_time(0), zone))
        end_ms = min(to_ms(datetime.combine(last + timedelta(days=1), clock_time(0), zone)), int(now * 1000))
        co2, pm25 = self._samples(room_id, start_ms, end_ms)
        outdoor = self.scoring.thresholds_for(room_id, site).outdoor_co2_ppm
        result = compliance(
            co2, pm25, end_ms=end_ms, outdoor_ppm=outdoor, is_open=lambda ts: is_open_ms(hours, ts, zone)
        )
        return {
            "enseigne": site,
            "salle": room,
            "timezone": zone_name,
            "start": first.isoformat(),
            "end": last.isoformat(),
            "opening_hours": hours,
            "outdoor_co2_ppm": outdoor,
            "co2": {
                "covered_hours": _hours(result.co2_total_ms),
                "categories": [
                    {
                        "category": name,
                        "above_outdoor_ppm": None if limit == float("inf") else limit,
                        "limit_ppm": None if limit == float("inf") else limit + outdoor,
                        "hours": _hours(result.co2_ms[name]),
                        "share_pct": _pct(result.co2_share(name)),
                    }
                    for name, limit in CO2_CATEGORIES
                ],
            },
            "pm25": {
                "covered_hours": _hours(result.pm25_ms),
                "guideline_ugm3": WHO_PM25_24H_UGM3,
                "above_hours": _hours(result.pm25_above_ms),
                "above_share_pct": _pct(result.pm25_above_share),
            },
            "references": REFERENCES,
        }

    def _samples(self, room_id: int, start_ms: int, end_ms: int) -> tuple[list[Sample], list[Sample]]:
        co2: list[Sample] = []
        pm25: list[Sample] = []
        after = None
        while True:
            rows = self.store.query_raw([room_id], start_ms, end_ms, sensor_pks=None, limit=PAGE, after=after)
            for r in rows:
                if "co2" in r.values:
                    co2.append((r.ts_ms, r.values["co2"]))
                if "pm25" in r.values:
                    pm25.append((r.ts_ms, r.values["pm25"]))
            if len(rows) < PAGE:
                return co2, pm25
            last = rows[-1]
            after = (last.ts_ms, last.room_id, last.sensor_pk)


def readable_header() -> str:
    """The CSV's column names as a person reads them, in the current language (the API keeps CSV_HEADER)."""
    names = [
        _("Site"), _("Room"), _("From"), _("To (included)"), _("Measure"), _("Category"), _("Limit"),
        _("Occupied hours"), _("Share of occupied time (%)"),
    ]  # fmt: skip
    return _line(names)


def report_csv(report: dict[str, Any], *, readable: bool = False) -> str:
    """The report as CSV: one line per CO2 category and one for PM2.5 above the guideline. `readable`: the
    column names and the guideline's label in the current language (the page's download), else the API's."""
    head = [report["enseigne"], report["salle"], report["start"], report["end"]]
    lines = [readable_header() if readable else CSV_HEADER]
    for c in report["co2"]["categories"]:
        limit = "" if c["limit_ppm"] is None else f"<= {c['limit_ppm']:g} ppm"
        lines.append(_line([*head, "co2", c["category"], limit, c["hours"], c["share_pct"]]))
    pm = report["pm25"]
    limit = f"> {pm['guideline_ugm3']:g} µg/m³"
    guideline = _("above the WHO 24-h guideline") if readable else "above WHO 24-h guideline"
    lines.append(_line([*head, "pm25", guideline, limit, pm["above_hours"], pm["above_share_pct"]]))
    return "\n".join(lines) + "\n"


def _line(cells: list[Any]) -> str:
    out = []
    for cell in cells:
        text = "" if cell is None else str(cell)
        out.append(f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text)
    return ",".join(out)
