"""`/reports`: the compliance report of a room over local days, as a table, a chart and a CSV download."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from nicegui import ui

from app.core.i18n import N_, _, number, table_columns
from components.access import page_sites
from components.actions import attempt
from components.frame import add_nav_link, frame
from components.storage_status import SeriesNotice
from services.compliance import report_csv
from services.scope import keep

if TYPE_CHECKING:
    from app.runtime import Runtime

CATEGORY_COLOURS = {"I": "#1b5e20", "II": "#7cb342", "III": "#f9a825", "IV": "#c62828"}
COLUMNS = [
    {"name": "measure", "label": N_("Measure"), "field": "measure", "align": "left"},
    {"name": "limit", "label": N_("Limit"), "field": "limit", "align": "left"},
    {"name": "hours", "label": N_("Occupied hours"), "field": "hours", "align": "right"},
    {"name": "share", "label": N_("Share of occupied time"), "field": "share", "align": "right"},
]


def register(runtime: Runtime) -> None:
    add_nav_link(N_("Reports"), "/reports", icon="assessment", order=30)

    @ui.page("/reports")
    async def reports_page() -> None:
        with frame(_("Compliance report")):
            await ReportPage(runtime).start()


def table_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    def share(value: float | None) -> str:
        return "—" if value is None else f"{number(value, 1)} %"

    rows = [
        {
            "measure": _("CO₂ category {category}").format(category=c["category"]),
            "limit": _("above category III")
            if c["limit_ppm"] is None
            else f"≤ {number(c['limit_ppm'], 0)} ppm",
            "hours": number(c["hours"], 2),
            "share": share(c["share_pct"]),
        }
        for c in report["co2"]["categories"]
    ]
    pm = report["pm25"]
    rows.append(
        {
            "measure": _("PM2.5 above the WHO 24-h guideline"),
            "limit": f"> {number(pm['guideline_ugm3'], 0)} µg/m³",
            "hours": number(pm["above_hours"], 2),
            "share": share(pm["above_share_pct"]),
        }
    )
    return rows


def figure(report: dict[str, Any]) -> dict[str, Any]:
    """One stacked bar: the occupied time's shares per CO2 category."""
    bars = [
        {
            "type": "bar",
            "orientation": "h",
            "name": _("category {category}").format(category=c["category"]),
            "y": ["CO₂"],
            "x": [c["share_pct"] or 0],
            "marker": {"color": CATEGORY_COLOURS[c["category"]]},
        }
        for c in report["co2"]["categories"]
    ]
    return {
        "data": bars,
        "layout": {
            "barmode": "stack",
            "height": 180,
            "margin": {"l": 50, "r": 20, "t": 10, "b": 40},
            "xaxis": {"title": {"text": _("% of occupied time")}, "range": [0, 100]},
            "legend": {"orientation": "h"},
        },
    }


class ReportPage:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.report: dict[str, Any] | None = None

    async def start(self) -> None:
        sites = keep(page_sites(), await self.runtime.config.list_sites())  # a limited account: its own
        rooms = {
            f"{s['name']}\u0000{r['name']}": f"{s['name']} / {r['name']}" for s in sites for r in s["rooms"]
        }
        if not rooms:
            ui.label(_("No rooms yet: a report needs a room with readings.")).classes("text-grey-7")
            return
        ui.label(
            _(
                "Share of occupied time (the site's opening hours, in its local time; all the time "
                "without them) "
                "in each EN 16798-1 CO₂ category and above the WHO 24-hour PM2.5 guideline (15 µg/m³)."
            )
        ).classes("text-grey-8")
        today = date.today()
        with ui.row().classes("items-end gap-4"):
            self.room = ui.select(rooms, value=next(iter(rooms)), label=_("Room")).classes("min-w-[16rem]")
            self.room.mark("report-room")
            self.start_day = ui.input(_("From"), value=(today - timedelta(days=6)).isoformat()).mark(
                "report-start"
            )
            self.end_day = ui.input(_("To (included)"), value=today.isoformat()).mark("report-end")
            ui.button(_("Compute"), icon="calculate", on_click=self.compute).mark("compute")
            self.download = ui.button(_("CSV"), icon="download", on_click=self.download_csv).mark(
                "download-csv"
            )
            self.download.props("flat")
        status, changes = self.runtime.health.storage(), self.runtime.bus.storage
        self.notice = SeriesNotice(status, changes, what=_("this report"))
        self.summary = ui.label().classes("text-caption text-grey-7").mark("report-summary")
        self.table = ui.table(columns=table_columns(COLUMNS), rows=[], row_key="measure").classes(
            "w-full max-w-3xl"
        )
        self.table.mark("report-table")
        self.chart = ui.plotly({"data": [], "layout": {"height": 180}}).classes("w-full max-w-3xl")
        await self.compute()

    async def compute(self) -> None:
        site, room = self.room.value.split("\u0000")
        report = await attempt(
            _("The report was not computed"),
            self.runtime.compliance.report(site, room, self.start_day.value, self.end_day.value),
        )
        if report is None:
            return
        self.report = report
        self.notice.show(self.runtime.health.storage())
        self.summary.set_text(
            _(
                "{where}, {start} to {end} ({zone}): {co2_hours} occupied hours with CO₂ readings, "
                "{pm_hours} with PM2.5; outdoor CO₂ {outdoor} ppm"
            ).format(
                where=f"{site} / {room}",
                start=report["start"],
                end=report["end"],
                zone=report["timezone"],
                co2_hours=number(report["co2"]["covered_hours"], 1),
                pm_hours=number(report["pm25"]["covered_hours"], 1),
                outdoor=number(report["outdoor_co2_ppm"], 0),
            )
        )
        self.table.rows = table_rows(report)
        self.table.update()
        self.chart.figure = figure(report)
        self.chart.update()

    def download_csv(self) -> None:
        if self.report is None:
            return
        r = self.report
        name = f"compliance-{r['enseigne']}-{r['salle']}-{r['start']}-{r['end']}.csv"
        ui.download.content(report_csv(r, readable=True).encode(), name, "text/csv")
