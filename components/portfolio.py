"""The portfolio: every room the account may see in one table, worst first, with its IAQ score, the metric
that drives it, a sparkline of its score over the last 24 h and its open alerts. A facility manager with
many sites starts here; a click on a row opens the room."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nicegui import ui

from app.core.domain.metrics import CORE_METRICS
from app.core.domain.score import LEVEL_COLOURS, Thresholds, room_score
from app.core.i18n import N_, _, table_columns

from .labels import level as level_name
from .labels import metric_name

SPARK_W, SPARK_H = 120, 28

COLUMNS = [
    {"name": "where", "label": N_("Room"), "field": "where", "align": "left", "sortable": True},
    {"name": "score", "label": N_("IAQ score"), "field": "score", "align": "right", "sortable": True},
    {"name": "driver", "label": N_("Driven by"), "field": "driver", "align": "left"},
    {"name": "spark", "label": N_("Last 24 h"), "field": "spark", "align": "left"},
    {"name": "alerts", "label": N_("Open alerts"), "field": "alerts", "align": "right", "sortable": True},
]


@dataclass(frozen=True, slots=True)
class PortfolioRoom:
    room_id: int
    site: str
    room: str
    values: Mapping[str, float]  # fresh latest values (stale ones left out)
    hourly: list[tuple[int, dict[str, float]]]  # (hour start ms, means) of the last 24 h
    thresholds: Thresholds
    open_alerts: int


def sparkline_svg(scores: list[float | None], colour: str) -> str:
    """A small SVG line of scores on a fixed 0-100 scale (rooms compare at a glance); gaps stay gaps."""
    if not any(s is not None for s in scores):
        return "<span style='color:#9e9e9e'>no data</span>"
    n = max(len(scores) - 1, 1)
    segments, current = [], []
    for i, score in enumerate(scores):
        if score is None:
            if current:
                segments.append(current)
            current = []
            continue
        x, y = i * (SPARK_W - 2) / n + 1, (SPARK_H - 2) * (1 - score / 100) + 1
        current.append(f"{x:.1f},{y:.1f}")
    if current:
        segments.append(current)
    lines = "".join(
        f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{' '.join(seg)}'/>"
        if len(seg) > 1
        else f"<circle cx='{seg[0].split(',')[0]}' cy='{seg[0].split(',')[1]}' r='2' fill='{colour}'/>"
        for seg in segments
    )
    return (
        f"<svg width='{SPARK_W}' height='{SPARK_H}' viewBox='0 0 {SPARK_W} {SPARK_H}' role='img' "
        f"aria-label='IAQ score over 24 h'>{lines}</svg>"
    )


def hourly_scores(room: PortfolioRoom, now_ms: int, hours: int = 24) -> list[float | None]:
    """The room's score in each of the last `hours` hours (the one under way last); None where it sent
    nothing, so that the sparkline shows the gap."""
    current = now_ms - now_ms % 3_600_000
    scores: list[float | None] = [None] * hours
    for ts_ms, means in room.hourly:
        slot = hours - 1 - (current - ts_ms) // 3_600_000
        if 0 <= slot < hours and (score := room_score(means, room.thresholds)) is not None:
            scores[slot] = score.score
    return scores


def portfolio_row(room: PortfolioRoom, now_ms: int) -> dict:
    now = room_score(room.values, room.thresholds)
    level = now.level if now else "unknown"
    scores = hourly_scores(room, now_ms)
    driver = metric_name(now.driver_metric) if now and now.driver_metric in CORE_METRICS else ""
    return {
        "id": room.room_id,
        "where": f"{room.site} / {room.room}",
        "score": int(now.score) if now else None,  # rounded down, as the tiles show it
        "level": level_name(level),
        "colour": LEVEL_COLOURS.get(level, LEVEL_COLOURS["unknown"]),
        "driver": driver if now else _("no recent value"),
        "spark": sparkline_svg(scores, LEVEL_COLOURS.get(level, LEVEL_COLOURS["unknown"])),
        "alerts": room.open_alerts,
    }


def worst_first(rows: list[dict]) -> list[dict]:
    """Rooms with open alerts and low scores first; rooms without a score last."""
    return sorted(rows, key=lambda r: (r["score"] is None, -r["alerts"], r["score"] or 0, r["where"]))


class PortfolioTable:
    def __init__(self, on_open: Callable[[int], None]) -> None:
        self.table = ui.table(columns=table_columns(COLUMNS), rows=[], row_key="id", pagination=0).props(
            "flat dense hide-bottom"
        )
        self.table.classes("w-full").mark("portfolio")
        self.table.add_slot(
            "body-cell-score",
            """<q-td :props="props"><span :style="{color: props.row.colour, fontWeight: 600}">
            {{ props.value === null ? '—' : props.value }}</span>
            <span class="text-caption q-ml-xs" :style="{color: props.row.colour}">{{ props.row.level }}</span>
            </q-td>""",
        )
        self.table.add_slot(
            "body-cell-spark", '<q-td :props="props"><span v-html="props.value"></span></q-td>'
        )
        self.table.add_slot(
            "body-cell-alerts",
            """<q-td :props="props">
            <q-badge v-if="props.value > 0" color="negative">{{ props.value }}</q-badge>
            <span v-else class="text-grey-6">0</span></q-td>""",
        )
        self.table.on("rowClick", lambda e: on_open(e.args[1]["id"]))

    def show(self, rooms: list[PortfolioRoom]) -> None:
        now_ms = int(time.time() * 1000)
        self.table.rows = worst_first([portfolio_row(room, now_ms) for room in rooms])
        self.table.update()
