"""`/reports`: the compliance report of a room over local days, as a table, a chart and a CSV download."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from nicegui import ui

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
    {"name": "measure", "label": "Measure", "field": "measure", "align": "left"},
    {"name": "limit", "label": "Limit", "field": "limit", "align": "left"},
    {"name": "hours", "label": "Occupied hours", "field": "hours", "align": "right"},
    {"name": "share", "label": "Share of occupied time", "field": "share", "align": "right"},
]


def register(runtime: Runtime) -> None:
    add_nav_link("Reports", "/reports", icon="assessment", order=30)

    @ui.page("/reports")
    async def reports_page() -> None:
        with frame("Compliance report"):
            await ReportPage(runtime).start()


def table_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    def share(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f} %"

    rows = [
        {
            "measure": f"CO₂ category {c['category']}",
            "limit": "above category III" if c["limit_ppm"] is None else f"≤ {c['limit_ppm']:g} ppm",
            "hours": f"{c['hours']:.2f}",
            "share": share(c["share_pct"]),
        }
        for c in report["co2"]["categories"]
    ]
    pm = report["pm25"]
    rows.append(
        {
            "measure": "PM2.5 above the WHO 24-h guideline",
            "limit": f"> {pm['guideline_ugm3']:g} µg/m³",
            "hours": f"{pm['above_hours']:.2f}",
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
            "name": f"category {c['category']}",
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
            "xaxis": {"title": {"text": "% of occupied time"}, "range": [0, 100]},
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
            ui.label("No rooms yet: a report needs a room with readings.").classes("text-grey-7")
            return
        ui.label(
            "Share of occupied time (the site's opening hours, in its local time; all the time without them) "
            "in each EN 16798-1 CO₂ category and above the WHO 24-hour PM2.5 guideline (15 µg/m³)."
        ).classes("text-grey-8")
        today = date.today()
        with ui.row().classes("items-end gap-4"):
            self.room = ui.select(rooms, value=next(iter(rooms)), label="Room").classes("min-w-[16rem]")
            self.room.mark("report-room")
            self.start_day = ui.input("From", value=(today - timedelta(days=6)).isoformat()).mark(
                "report-start"
            )
            self.end_day = ui.input("To (included)", value=today.isoformat()).mark("report-end")
            ui.button("Compute", icon="calculate", on_click=self.compute).mark("compute")
            self.download = ui.button("CSV", icon="download", on_click=self.download_csv).mark("download-csv")
            self.download.props("flat")
        status, changes = self.runtime.health.storage(), self.runtime.bus.storage
        self.notice = SeriesNotice(status, changes, what="this report")
        self.summary = ui.label().classes("text-caption text-grey-7").mark("report-summary")
        self.table = ui.table(columns=COLUMNS, rows=[], row_key="measure").classes("w-full max-w-3xl")
        self.table.mark("report-table")
        self.chart = ui.plotly({"data": [], "layout": {"height": 180}}).classes("w-full max-w-3xl")
        await self.compute()

    async def compute(self) -> None:
        site, room = self.room.value.split("\u0000")
        report = await attempt(
            "The report was not computed",
            self.runtime.compliance.report(site, room, self.start_day.value, self.end_day.value),
        )
        if report is None:
            return
        self.report = report
        self.notice.show(self.runtime.health.storage())
        self.summary.set_text(
            f"{site} / {room}, {report['start']} to {report['end']} ({report['timezone']}): "
            f"{report['co2']['covered_hours']:.1f} occupied hours with CO₂ readings, "
            f"{report['pm25']['covered_hours']:.1f} with PM2.5; outdoor CO₂ {report['outdoor_co2_ppm']:g} ppm"
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
        ui.download.content(report_csv(r).encode(), name, "text/csv")
