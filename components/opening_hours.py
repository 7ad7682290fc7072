"""Opening hours as people write them: one line per weekday, `08:00-12:00, 13:00-18:00`.

The editor only turns text into `[["08:00", "12:00"], ...]` pairs; the configuration service validates
them and its field errors (`opening_hours.tue[0]`) are shown under the day they concern.
"""

from __future__ import annotations

import re
from typing import Any

from nicegui import ui

from app.core.domain.readings import FieldError
from app.core.domain.validation import WEEKDAYS
from app.core.i18n import N_, _, language

DAY_NAMES = dict(
    zip(
        WEEKDAYS,
        (
            N_("Monday"),
            N_("Tuesday"),
            N_("Wednesday"),
            N_("Thursday"),
            N_("Friday"),
            N_("Saturday"),
            N_("Sunday"),
        ),
        strict=True,
    )
)
_SHORT_HOUR = re.compile(r"^\d:\d\d$")


def parse_day(text: str) -> list[list[str]]:
    """`8:00-12:00, 13:00 - 18:00` -> `[["08:00", "12:00"], ["13:00", "18:00"]]`; checks nothing else."""
    spans = []
    for part in re.split(r"[,;]", text or ""):
        if not part.strip():
            continue
        times = [t.strip() for t in re.split(r"[-–]", part)]
        spans.append(["0" + t if _SHORT_HOUR.match(t) else t for t in times])
    return spans


def format_day(spans: list[list[str]] | None) -> str:
    return ", ".join(f"{a}-{b}" for a, b in spans or [])


def summary(hours: dict[str, list[list[str]]] | None) -> str:
    """`Mon–Fri 08:00-18:00 · Sat 09:00-12:00`; days left out are closed."""
    if hours is None:
        return _("always open")
    if not any(hours.values()):
        return _("always closed")
    groups: list[tuple[str, str, str]] = []  # first day, last day, text
    for day in WEEKDAYS:
        text = format_day(hours.get(day))
        if groups and groups[-1][2] == text and WEEKDAYS.index(groups[-1][1]) == WEEKDAYS.index(day) - 1:
            groups[-1] = (groups[-1][0], day, text)
        else:
            groups.append((day, day, text))
    parts = []
    for first, last, text in groups:
        if not text:
            continue
        days = short_day(first) if first == last else f"{short_day(first)}–{short_day(last)}"
        parts.append(f"{days} {text}")
    return " · ".join(parts)


def short_day(day: str) -> str:
    """`Mon` / `lun.`: a weekday (`mon` ... `sun`) as the page's language abbreviates it."""
    from babel.dates import get_day_names

    return get_day_names("abbreviated", locale=language())[WEEKDAYS.index(day)].capitalize()


class OpeningHoursEditor:
    """A switch "always open" and one text field per weekday."""

    def __init__(self, hours: dict[str, list[list[str]]] | None) -> None:
        self.always = ui.switch(_("Always open (no opening hours)"), value=hours is None).mark("always-open")
        ui.label(_("One line per day, e.g. 08:00-12:00, 13:00-18:00. An empty day is closed.")).classes(
            "text-caption text-grey-7"
        )
        self.days: dict[str, ui.input] = {}
        days = ui.column().classes("w-full gap-0")
        days.bind_visibility_from(self.always, "value", backward=lambda always: not always)
        with days:
            for day in WEEKDAYS:
                self.days[day] = (
                    ui.input(_(DAY_NAMES[day]), value=format_day((hours or {}).get(day)))
                    .classes("w-full")
                    .props("dense")
                    .mark(f"hours-{day}")
                )

    @property
    def value(self) -> dict[str, Any] | None:
        if self.always.value:
            return None
        texts = {day: (field.value or "").strip() for day, field in self.days.items()}
        return {day: parse_day(text) for day, text in texts.items() if text}

    def show_errors(self, errors: list[FieldError]) -> None:
        """Put each service error under its day (the first error per day wins)."""
        for field in self.days.values():
            field.error = None
        for error in errors:
            match = re.match(r"opening_hours\.(\w+)", error.field)
            if match and match.group(1) in self.days and not self.days[match.group(1)].error:
                self.days[match.group(1)].error = error.problem
