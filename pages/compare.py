"""`/compare`: several rooms on one metric in one chart (hourly or finer means over the chosen span), to see
which rooms behave alike, which one drifts, and whether a change in one building shows in another. The
account sees only its sites' rooms; what the chart shows downloads as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from nicegui import ui

from app.core.domain.metrics import CORE_METRICS
from app.core.i18n import N_, _
from components.access import page_sites
from components.charts import date_axis
from components.frame import add_nav_link, frame
from components.labels import metric_name
from services.query import Series
from services.scope import Selection, keep

if TYPE_CHECKING:
    from app.runtime import Runtime

SPANS = {"24h": (N_("24 h"), 24, 900), "7d": (N_("7 days"), 168, 3600), "30d": (N_("30 days"), 720, 6 * 3600)}
MAX_ROOMS = 12  # beyond that, a chart of lines tells nothing
DEFAULT_ROOMS = 4


def register(runtime: Runtime) -> None:
    add_nav_link(N_("Compare"), "/compare", icon="stacked_line_chart", order=25)

    @ui.page("/compare")
    async def compare_page() -> None:
        with frame(_("Compare rooms")):
            await ComparePage(runtime).start()


def chart_zone(zones: set[str]) -> str:
    """The zone the chart's times are in: the rooms' own when they share one, else UTC (said on the axis)."""
    return next(iter(zones)) if len(zones) == 1 else "UTC"


def compare_figure(series: Series, metric: str, names: dict[int, str], zone: str) -> dict[str, Any]:
    """One line of means per room, in the order of `names`."""
    tz = ZoneInfo(zone)
    lines: dict[int, tuple[list[str], list[float]]] = {room_id: ([], []) for room_id in names}
    for point in series.aggregates:
        stats = point.stats.get(metric)
        if stats is not None and point.room_id in lines:
            x, y = lines[point.room_id]
            x.append(datetime.fromtimestamp(point.ts_ms / 1000, tz).strftime("%Y-%m-%d %H:%M"))
            y.append(round(stats.mean, 2))
    info = CORE_METRICS[metric]
    return {
        "data": [
            {"type": "scatter", "mode": "lines", "name": names[room_id], "x": x, "y": y}
            for room_id, (x, y) in lines.items()
        ],
        "layout": {
            "margin": {"l": 56, "r": 16, "t": 16, "b": 56},
            "xaxis": {**date_axis(), "title": {"text": _("local time ({zone})").format(zone=zone)}},
            "yaxis": {"title": {"text": f"{metric_name(metric)} ({info.unit})"}, "rangemode": "tozero"},
            "legend": {"orientation": "h", "y": -0.25},
            "hovermode": "x unified",
        },
    }


def figure_csv(figure: dict[str, Any], zone: str) -> str:
    """The chart's lines side by side: one row per time, one column per room."""
    traces = figure["data"]
    times = sorted({t for trace in traces for t in trace["x"]})
    values = [dict(zip(trace["x"], trace["y"], strict=True)) for trace in traces]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("time ({zone})").format(zone=zone), *(trace["name"] for trace in traces)])
    writer.writerows([t, *(v.get(t, "") for v in values)] for t in times)
    return out.getvalue()


class ComparePage:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sites = page_sites()
        self.rooms: dict[int, str] = {}
        self.zones: dict[int, str] = {}
        self.figure: dict[str, Any] = {"data": [], "layout": {}}
        self.zone = "UTC"

    async def start(self) -> None:
        for site in keep(self.sites, await self.runtime.config.list_sites()):
            for room in site["rooms"]:
                self.rooms[room["id"]] = f"{site['name']} / {room['name']}"
                self.zones[room["id"]] = room["effective_timezone"]
        if not self.rooms:
            ui.label(
                _("No rooms yet: rooms appear here once a sensor of theirs has sent a reading.")
            ).classes("text-grey-7").mark("compare-empty")
            return
        with ui.row().classes("w-full items-end gap-4"):
            self.chosen = (
                ui.select(
                    self.rooms,
                    value=list(self.rooms)[:DEFAULT_ROOMS],
                    multiple=True,
                    label=_("Rooms (up to {MAX_ROOMS})").format(MAX_ROOMS=MAX_ROOMS),
                    on_change=self.load,
                )
                .props("use-chips dense")
                .classes("min-w-[16rem] grow")
                .mark("compare-rooms")
            )
            self.metric = (
                ui.select({m: metric_name(m) for m in CORE_METRICS}, value="co2", on_change=self.load)
                .props("dense")
                .mark("compare-metric")
            )
            self.span = ui.toggle({k: _(v[0]) for k, v in SPANS.items()}, value="24h", on_change=self.load)
            self.span.props("no-caps").mark("compare-span")
            ui.button(_("CSV"), icon="download", on_click=self.download).props("flat dense no-caps").mark(
                "compare-csv"
            )
        self.message = ui.label().classes("text-grey-7").mark("compare-message")
        self.chart = ui.plotly(self.figure).classes("w-full").style("height: 420px").mark("compare-chart")
        await self.load()

    async def load(self) -> None:
        chosen = [room_id for room_id in self.chosen.value or [] if room_id in self.rooms]
        if len(chosen) > MAX_ROOMS:
            self.chosen.error = _("at most {MAX_ROOMS} rooms").format(MAX_ROOMS=MAX_ROOMS)
            return
        self.chosen.error = None
        if not chosen:
            self.message.set_text(_("Choose one or more rooms."))
            return
        metric, (_label, hours, step_s) = self.metric.value, SPANS[self.span.value]
        series = await self.runtime.query.data(
            Selection(frozenset(chosen)), hours=hours, step_s=step_s, metrics=[metric]
        )
        self.zone = chart_zone({self.zones[room_id] for room_id in chosen})
        self.figure = compare_figure(series, metric, {r: self.rooms[r] for r in chosen}, self.zone)
        silent = [
            self.rooms[r] for r, trace in zip(chosen, self.figure["data"], strict=True) if not trace["y"]
        ]
        label = metric_name(metric)
        self.message.set_text(
            _("No {label} in the span for {join}.").format(label=label, join=", ".join(silent))
            if silent
            else ""
        )
        self.chart.figure = self.figure
        self.chart.update()

    def download(self) -> None:
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        name = f"compare-{self.metric.value}-{self.span.value}-{day}.csv"
        ui.download.content(figure_csv(self.figure, self.zone).encode("utf-8"), name, "text/csv")
