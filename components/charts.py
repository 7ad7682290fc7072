"""A time-series chart of one metric on `ui.plotly`, with a plain dict figure (importing plotly's
graph objects costs seconds, a dict costs nothing).

Raw readings are a line; aggregated data are a mean line inside a min-max band. `extend()` adds a live
point in place: raw points are inserted, aggregated ones merged into their bucket, and anything older than
the range is dropped. The x axis shows the room's local time (its effective time zone, named on the axis).
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from nicegui import ui

from app.core.domain.metrics import CORE_METRICS
from app.core.i18n import N_, _, language

from .labels import metric_name

LINE_COLOUR = "#00695c"
BAND_COLOUR = "rgba(0, 105, 92, 0.18)"
REFERENCE_COLOUR = "#c62828"
FORECAST_COLOUR = "#6a1b9a"
FORECAST_BAND_COLOUR = "rgba(106, 27, 154, 0.15)"
ZERO_BASED = {"co2", "pm25", "tvoc"}  # concentrations start at zero; temperature and humidity do not

# Reference lines drawn on the chart: value, label. CO2: EN 16798-1 category II limit, 800 ppm above an
# outdoor level of 420 ppm (the bound between "good" and "moderate" of the score, app.domain.score).
# PM2.5: the WHO 2021 24-hour guideline.
REFERENCE_LINES: dict[str, list[tuple[float, str]]] = {
    "co2": [(1220.0, N_("EN 16798-1 cat. II"))],
    "pm25": [(15.0, N_("WHO 24 h guideline"))],
}


@dataclass(slots=True)
class Aggregate:
    """Statistics of one bucket [ts_ms, ts_ms + step)."""

    ts_ms: int
    total: float
    low: float
    high: float
    count: int

    @property
    def mean(self) -> float:
        return self.total / self.count


def date_axis() -> dict:
    """A plotly time axis in the page's language: plotly's own month names are English only, so other
    languages get numeric dates (day first)."""
    if language() == "en":
        return {"type": "date"}
    return {"type": "date", "tickformat": "%d/%m %H:%M", "hoverformat": "%d/%m/%Y %H:%M"}


class SeriesChart(ui.plotly):
    """One metric over a time range. Call `show_raw` or `show_aggregated`, then `extend` for live points."""

    def __init__(self, *, zone: ZoneInfo) -> None:
        self.zone = zone
        self.metric = "co2"
        self.range_ms = 3600_000
        self.step_ms: int | None = None  # None: raw points
        self._points: list[tuple[int, float]] = []  # raw mode, sorted by time
        self._buckets: list[Aggregate] = []  # aggregated mode, sorted by time
        self._forecast: list[tuple[int, float, float, float]] = []  # (ts_ms, value, low, high) ahead
        super().__init__(self._figure())
        self.classes("w-full").style("height: 380px")

    # -- data in
    def show_raw(self, metric: str, points: list[tuple[int, float]], *, range_ms: int) -> None:
        """Replace the chart with raw points `(ts_ms, value)`."""
        self.metric, self.range_ms, self.step_ms = metric, range_ms, None
        self._points = sorted(points)
        self._buckets = []
        self._render()

    def show_aggregated(self, metric: str, buckets: list[Aggregate], *, step_ms: int, range_ms: int) -> None:
        """Replace the chart with buckets of `step_ms`: mean line and min-max band."""
        self.metric, self.range_ms, self.step_ms = metric, range_ms, step_ms
        self._points = []
        self._buckets = sorted(buckets, key=lambda b: b.ts_ms)
        self._render()

    def extend(self, ts_ms: int, value: float) -> None:
        """Add one live point and drop what has left the range."""
        self.extend_many([(ts_ms, value)])

    def extend_many(self, points: list[tuple[int, float]]) -> None:
        """Add live points with one redraw (a burst of readings must not redraw once per reading)."""
        if not points:
            return
        for ts_ms, value in points:
            self._add(ts_ms, value)
        self._trim()
        self._render()

    def set_forecast(self, metric: str, points: list[tuple[int, float, float, float]]) -> None:
        """Show a forecast `(ts_ms, value, low, high)` after the measured curve (none if another metric)."""
        self._forecast = sorted(points) if metric == self.metric else []
        self._render()

    @property
    def forecast_count(self) -> int:
        return len(self._forecast)

    def _add(self, ts_ms: int, value: float) -> None:
        if self.step_ms is None:
            point = (ts_ms, value)
            index = bisect_left(self._points, point)
            if index < len(self._points) and self._points[index] == point:
                return  # already shown (a reading that arrived while the series was loading)
            self._points.insert(index, point)
        else:
            start = ts_ms - ts_ms % self.step_ms
            starts = [b.ts_ms for b in self._buckets]
            index = bisect_left(starts, start)
            if index < len(self._buckets) and self._buckets[index].ts_ms == start:
                b = self._buckets[index]
                b.total, b.count = b.total + value, b.count + 1
                b.low, b.high = min(b.low, value), max(b.high, value)
            else:
                self._buckets.insert(index, Aggregate(start, value, value, value, 1))

    def _trim(self) -> None:
        """Keep the range that ends at the newest point."""
        if self.step_ms is None and self._points:
            cutoff = self._points[-1][0] - self.range_ms
            del self._points[: bisect_left(self._points, (cutoff, float("-inf")))]
        elif self.step_ms is not None and self._buckets:
            cutoff = self._buckets[-1].ts_ms + self.step_ms - self.range_ms
            self._buckets = [b for b in self._buckets if b.ts_ms + self.step_ms > cutoff]

    @property
    def point_count(self) -> int:
        """How many points (raw readings or buckets) the chart shows."""
        return len(self._points) if self.step_ms is None else len(self._buckets)

    @property
    def last_value(self) -> float | None:
        if self.step_ms is None:
            return self._points[-1][1] if self._points else None
        return self._buckets[-1].mean if self._buckets else None

    def csv(self) -> str:
        """What the chart shows, as CSV in the chart's time zone: each reading, or each step's mean, minimum,
        maximum and count; the forecast after it."""
        info = CORE_METRICS.get(self.metric)
        unit = f" ({info.unit})" if info else ""
        when = _("time ({key})").format(key=self.zone.key)
        out = io.StringIO()
        writer = csv.writer(out)
        if self.step_ms is None:
            writer.writerow([when, f"{self.metric}{unit}"])
            writer.writerows([self._local(ts), value] for ts, value in self._points)
        else:
            writer.writerow(
                [_("step start ({key})").format(key=self.zone.key), f"mean{unit}", "min", "max", "readings"]
            )
            writer.writerows(
                [self._local(b.ts_ms), round(b.mean, 3), b.low, b.high, b.count] for b in self._buckets
            )
        if self._forecast:
            writer.writerow([])
            writer.writerow([when, f"forecast{unit}", "low", "high"])
            writer.writerows([self._local(ts), v, lo, hi] for ts, v, lo, hi in self._forecast)
        return out.getvalue()

    # -- figure out
    def _local(self, ts_ms: int) -> str:
        return datetime.fromtimestamp(ts_ms / 1000, self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def _render(self) -> None:
        self.figure = self._figure()
        self.update()

    def _forecast_traces(self, hover: str) -> list[dict]:
        """The forecast as a dashed line from the last measured point, inside its interval band."""
        if not self._forecast:
            return []
        x = [self._local(t) for t, *_ in self._forecast]
        start_x, start_y = (
            ([self._local(self._points[-1][0])], [self._points[-1][1]])
            if (self.step_ms is None and self._points)
            else ([], [])
        )
        return [
            {
                "type": "scatter",
                "mode": "lines",
                "name": _("forecast low"),
                "x": x,
                "y": [low for _, _, low, _ in self._forecast],
                "line": {"width": 0},
                "showlegend": False,
                "hovertemplate": hover,
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": _("forecast high"),
                "x": x,
                "y": [high for *_, high in self._forecast],
                "line": {"width": 0},
                "fill": "tonexty",
                "fillcolor": FORECAST_BAND_COLOUR,
                "showlegend": False,
                "hovertemplate": hover,
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "forecast",
                "x": start_x + x,
                "y": start_y + [round(v, 2) for _, v, _, _ in self._forecast],
                "line": {"color": FORECAST_COLOUR, "width": 2, "dash": "dash"},
                "marker": {"size": 5},
                "hovertemplate": hover,
            },
        ]

    def _figure(self) -> dict:
        info = CORE_METRICS.get(self.metric)
        label, unit, decimals = (
            (metric_name(self.metric), info.unit, info.decimals) if info else (self.metric, "", 1)
        )
        hover = f"%{{y:.{decimals}f}} {unit}<br>%{{x}}<extra>%{{fullData.name}}</extra>"
        data = self._measured_traces(label, hover) + self._forecast_traces(hover)
        shapes, annotations = reference_lines(self.metric, unit)
        if self.point_count == 0:
            annotations.append(
                {"xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False,
                 "text": _("No readings in this range"), "font": {"size": 14, "color": "#757575"}}
            )  # fmt: skip
        return {
            "data": data,
            "layout": {
                "margin": {"l": 64, "r": 16, "t": 16, "b": 48},
                "xaxis": {
                    **date_axis(),
                    "title": {"text": _("local time ({key})").format(key=self.zone.key)},
                },
                "yaxis": {
                    "title": {"text": f"{label} ({unit})" if unit else label},
                    "rangemode": "tozero" if self.metric in ZERO_BASED else "normal",
                },
                "shapes": shapes,
                "annotations": annotations,
                "showlegend": False,
                "hovermode": "x unified",
                # the user's zoom survives live points, not a change of metric or range
                "uirevision": f"{self.metric}-{self.range_ms}",
            },
            "config": {"displaylogo": False, "responsive": True},
        }

    def _measured_traces(self, label: str, hover: str) -> list[dict]:
        """Raw readings as one line; buckets as their mean line over a min-max band."""
        if self.step_ms is None:
            mode = "lines+markers" if len(self._points) < 60 else "lines"
            return [
                {"type": "scatter", "mode": mode, "name": label,
                 "x": [self._local(t) for t, _ in self._points], "y": [v for _, v in self._points],
                 "line": {"color": LINE_COLOUR, "width": 2}, "marker": {"size": 4}, "hovertemplate": hover}
            ]  # fmt: skip
        x = [self._local(b.ts_ms) for b in self._buckets]
        edge = {"type": "scatter", "mode": "lines", "x": x, "line": {"width": 0}, "showlegend": False,
                "hovertemplate": hover}  # fmt: skip
        return [  # the band is the area between the invisible min line and the max line
            {**edge, "name": "min", "y": [b.low for b in self._buckets]},
            {**edge, "name": "max", "y": [b.high for b in self._buckets], "fill": "tonexty",
             "fillcolor": BAND_COLOUR},
            {"type": "scatter", "mode": "lines", "name": "mean", "x": x,
             "y": [round(b.mean, 4) for b in self._buckets], "line": {"color": LINE_COLOUR, "width": 2},
             "hovertemplate": hover},
        ]  # fmt: skip


def reference_lines(metric: str, unit: str) -> tuple[list[dict], list[dict]]:
    """The metric's reference levels (e.g. EN 16798-1's CO₂ category II) as dotted lines with their names."""
    shapes, annotations = [], []
    for value, text in REFERENCE_LINES.get(metric, []):
        shapes.append(
            {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": value, "y1": value,
             "line": {"color": REFERENCE_COLOUR, "width": 1, "dash": "dot"}}
        )  # fmt: skip
        annotations.append(
            {"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": value, "yanchor": "bottom",
             "showarrow": False, "text": f"{_(text)} ({value:g} {unit})",
             "font": {"size": 10, "color": REFERENCE_COLOUR}}
        )  # fmt: skip
    return shapes, annotations
