"""`/rooms/{room_id}`: one room's latest values, its chart over 1 h, 24 h, 7 d or chosen days with its
forecast, and a CSV of what the chart shows. The page subscribes to the bus inside the page, so its
callbacks go away with the browser tab.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from nicegui import ui

from app.core.bus import Measurement
from app.core.domain.metrics import CORE_METRICS
from app.core.i18n import N_, _
from components.access import page_bus, page_principal, page_sees
from components.charts import Aggregate, SeriesChart
from components.frame import frame
from components.labels import metric_name
from components.storage_status import SeriesNotice
from components.tiles import RoomTile
from services.errors import NotFound
from services.query import RoomLatest, Series, auto_step_s
from services.scope import Selection

if TYPE_CHECKING:
    from app.runtime import Runtime

from .dashboard import score_options

# range key -> (label, hours, aggregation step in seconds; None = raw readings)
RANGES: dict[str, tuple[str, float, int | None]] = {
    "1h": (N_("1 h"), 1, None),
    "24h": (N_("24 h"), 24, 300),
    "7d": (N_("7 d"), 168, 3600),
    "dates": (N_("Dates"), 0, None),  # from and to days chosen by the user, in the room's time zone
}
MAX_DAYS = 366


def register(runtime: Runtime) -> None:
    @ui.page("/rooms/{room_id}")
    async def room_page(room_id: str) -> None:
        room = await _find_room(runtime, room_id)
        if room is None:
            with frame(_("Room not found"), section="/"):
                ui.label(
                    _("There is no room with id {room_id!r}; it may have been deleted.").format(
                        room_id=room_id
                    )
                ).mark("room-missing")
                ui.link(_("Back to the dashboard"), "/")
            return
        if not page_sees(room["site"]):
            principal = page_principal()
            who = principal.name if principal else _("this account")
            with frame(_("Not your site"), section="/"):
                ui.label(
                    _(
                        "{who} may not see this room: it belongs to a site outside the account's sites."
                    ).format(who=who)
                ).mark("room-refused")
                ui.link(_("Back to the dashboard"), "/")
            return
        with frame(room["name"], section="/"):
            await RoomView(runtime, room).start()


async def _find_room(runtime: Runtime, room_id: str) -> dict[str, Any] | None:
    if not room_id.isdigit():
        return None
    try:
        return await runtime.config.get_room(int(room_id))
    except NotFound:
        return None


class RoomView:
    """Latest values, metric and range selectors, and a chart that grows with live readings."""

    def __init__(self, runtime: Runtime, room: dict[str, Any]) -> None:
        self.runtime, self.room = runtime, room
        self.room_id: int = room["id"]
        self.generation = 0  # a newer load makes an older one's result obsolete
        self.loading = False
        self.pending: list[Measurement] = []  # arrived while loading; added once the series is shown

    async def start(self) -> None:
        latest = await self._latest()
        with ui.row().classes("items-center gap-2 text-grey-8"):
            ui.link(self.room["site"], "/").mark("room-site")
            details = [
                self.room["kind"],
                _("time zone {value}").format(value=self.room["effective_timezone"]),
            ]
            ui.label(" · ".join(d for d in details if d))
        with ui.row().classes("w-full items-start gap-6"):
            self.tile = RoomTile(
                _("Latest values"),
                latest.values if latest else None,
                latest.updated_ms if latest else None,
                **score_options(
                    self.runtime, self.room_id, self.room["site"], latest.times if latest else None
                ),
            )
            self._chart_column()
        # subscribe before the first load: a change made while it runs must not be missed
        bus = page_bus(self.runtime.bus)
        bus.measurements.subscribe(self.on_measurements)
        bus.predictions.subscribe(self.on_prediction)
        bus.config_changed.subscribe(
            lambda: self.tile.set_thresholds(
                self.runtime.scoring.thresholds_for(self.room_id, self.room["site"])
            )
        )
        await self.load()

    def _chart_column(self) -> None:
        """The metric and span chosen, the chart and its CSV, the days for a span of dates."""
        with ui.column().classes("gap-2 grow").style("min-width: min(320px, 100%)"):
            with ui.row().classes("items-center gap-4"):
                self.metric = (
                    ui.toggle(
                        {m: metric_name(m) for m in CORE_METRICS},
                        value="co2",
                        on_change=self.load,
                    )
                    .props("no-caps")
                    .classes("flex-wrap")
                    .mark("metric")
                )  # wraps on a phone
                self.range = ui.toggle(
                    {k: _(spec[0]) for k, spec in RANGES.items()}, value="1h", on_change=self.load
                ).mark("range")
                ui.button(_("CSV"), icon="download", on_click=self.download).props(
                    "flat dense no-caps"
                ).tooltip(_("Download what the chart shows")).mark("download-csv")
            today = datetime.now(ZoneInfo(self.room["effective_timezone"])).date()
            with ui.row().classes("items-end gap-2") as self.dates:
                self.first_day = ui.input(_("From"), value=(today - timedelta(days=6)).isoformat())
                self.first_day.props("type=date dense").mark("range-from").on("change", self.load)
                self.last_day = ui.input(_("To (included)"), value=today.isoformat())
                self.last_day.props("type=date dense").mark("range-to").on("change", self.load)
                ui.label(
                    _("days in {value}; live readings are not added").format(
                        value=self.room["effective_timezone"]
                    )
                ).classes("text-caption text-grey-7")
            self.dates.set_visibility(False)
            self.message = ui.label().classes("text-grey-7").mark("chart-message")
            self.notice = SeriesNotice(self.runtime.health.storage(), self.runtime.bus.storage)
            self.chart = SeriesChart(zone=ZoneInfo(self.room["effective_timezone"])).mark("chart")

    async def _latest(self) -> RoomLatest | None:
        sites = await self.runtime.query.overview(room_id=self.room_id)
        return next((room for site in sites for room in site.rooms), None)

    def _days(self) -> tuple[datetime, datetime] | None:
        """The chosen days as [start, end) in the room's zone; None (and a word under the field) when they
        are not a valid span."""
        zone = ZoneInfo(self.room["effective_timezone"])
        self.first_day.error = self.last_day.error = None
        try:
            first = date.fromisoformat(self.first_day.value or "")
        except ValueError:
            self.first_day.error = _("choose a day")
            return None
        try:
            last = date.fromisoformat(self.last_day.value or "")
        except ValueError:
            self.last_day.error = _("choose a day")
            return None
        if last < first:
            self.last_day.error = _("must not be before the first day")
            return None
        if (last - first).days >= MAX_DAYS:
            self.last_day.error = _("at most {MAX_DAYS} days").format(MAX_DAYS=MAX_DAYS)
            return None
        start = datetime.combine(first, dt_time(0), zone)
        return start, datetime.combine(last + timedelta(days=1), dt_time(0), zone)

    async def _series(self, key: str) -> tuple[Series, int] | None:
        if key != "dates":
            _label, hours, step_s = RANGES[key]
            return await self.runtime.query.room_series(self.room_id, hours=hours, step_s=step_s), int(
                hours * 3600_000
            )
        span = self._days()
        if span is None:
            return None
        start, end = span
        step_s = auto_step_s((end - start).total_seconds())
        series = await self.runtime.query.data(
            Selection(frozenset({self.room_id})), start=start, end=end, step_s=step_s
        )
        return series, int((end - start).total_seconds() * 1000)

    async def load(self) -> None:
        """Fetch the chosen range (raw for 1 h, buckets for longer ones and chosen days) and show the chosen
        metric."""
        self.generation += 1
        generation, metric, key = self.generation, self.metric.value, self.range.value
        self.dates.set_visibility(key == "dates")
        self.loading = True
        try:
            found = await self._series(key)
        except NotFound:
            self.message.set_text(_("This room has been deleted."))
            return
        if generation != self.generation:
            return  # the user chose something else meanwhile: the newer load shows it (and ends loading)
        if found is None:
            self.loading = False
            return  # invalid days, said under the fields
        series, range_ms = found
        self.notice.show_series(series)
        if series.raw:
            points = [(p.ts_ms, p.values[metric]) for p in series.points if metric in p.values]
            self.chart.show_raw(metric, points, range_ms=range_ms)
        else:
            buckets = [
                Aggregate(a.ts_ms, total=s.total, low=s.low, high=s.high, count=s.count)
                for a in series.aggregates
                if (s := a.stats.get(metric))
            ]
            self.chart.show_aggregated(metric, buckets, step_ms=series.step_s * 1000, range_ms=range_ms)
        self.loading = False
        self._extend(self.pending)
        self.pending = []
        self._show_message()
        await self.show_forecast()

    async def show_forecast(self) -> None:
        """The newest stored forecast of the chosen metric, with its interval, ahead of the measured curve
        (not for chosen days: they end in the past)."""
        metric = self.metric.value
        if self.range.value == "dates":
            self.chart.set_forecast(metric, [])
            return
        rows = await self.runtime.forecasting.latest(self.room_id, metric)
        self.chart.set_forecast(metric, [(r["target_ms"], r["value"], r["low"], r["high"]) for r in rows])

    async def on_prediction(self, message: dict[str, Any]) -> None:
        if message.get("room_id") == self.room_id and message.get("metric") == self.metric.value:
            await self.show_forecast()

    def on_measurements(self, batch: list[Measurement]) -> None:
        mine = [m for m in batch if m.room_id == self.room_id]
        if not mine:
            return
        for m in mine:
            self.tile.update(m.values, m.ts_ms)
        if self.loading:
            self.pending.extend(mine)
        else:
            self._extend(mine)
        self._show_message()

    def download(self) -> None:
        day = datetime.now(ZoneInfo(self.room["effective_timezone"])).strftime("%Y-%m-%d")
        name = f"{self.room['site']}-{self.room['name']}-{self.metric.value}-{day}.csv".replace(" ", "_")
        ui.download.content(self.chart.csv().encode("utf-8"), name, "text/csv")

    def _extend(self, measurements: list[Measurement]) -> None:
        if self.range.value == "dates":
            return  # a span the user chose: it stays as chosen
        metric = self.metric.value
        self.chart.extend_many([(m.ts_ms, m.values[metric]) for m in measurements if metric in m.values])

    def _show_message(self) -> None:
        if self.chart.point_count:
            text = ""
        elif self.tile.updated_ms is None:
            text = _("This room has no readings yet. They appear here, live, as soon as a sensor sends one.")
        else:
            label = metric_name(self.metric.value)
            span = (
                _("from {value} to {value2}").format(value=self.first_day.value, value2=self.last_day.value)
                if self.range.value == "dates"
                else _("in the last {span}").format(span=_(RANGES[self.range.value][0]))
            )
            text = _("No {label} readings {span}.").format(label=label, span=span)
        self.message.set_text(text)
        self.message.set_visibility(bool(text))
