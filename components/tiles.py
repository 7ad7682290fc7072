"""A room tile: the IAQ score, the latest value of each core metric coloured by its sub-score's level, and
the age of the data. The score comes from `app.core.domain.score` on the tile's own values: no extra query."""

from __future__ import annotations

import time

from nicegui import ui

from app.core.domain.metrics import CORE_METRICS
from app.core.domain.score import DEFAULT_THRESHOLDS, LEVEL_COLOURS, Thresholds, room_score, split_stale
from app.core.i18n import _, measure

from .labels import level as level_name
from .labels import metric_name

AGE_REFRESH_S = 5.0


def format_value(metric: str, value: float | None) -> str:
    """`812.4` -> `812 ppm`; unknown values -> `—`."""
    if value is None:
        return "—"
    info = CORE_METRICS.get(metric)
    if info is None:
        return measure(value, 3, fixed=False)
    return f"{measure(value, info.decimals)} {info.unit}"  # a thin space groups thousands


def format_age(seconds: float) -> str:
    """How long ago, in the coarsest unit that still says something: `12 s`, `4 min`, `3 h`, `2 d`."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return _("{days} d").format(days=int(seconds // 86400))


class MetricValue:
    """One line of a tile: metric label on the left, value with unit on the right, coloured by level."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        with ui.row().classes("w-full items-center justify-between no-wrap gap-2"):
            with ui.row().classes("items-center gap-2 no-wrap"):
                self.dot = ui.icon("circle", size="10px")
                ui.label(metric_name(metric)).classes("text-body2 text-grey-8")
            self.value = ui.label().classes("text-body1 text-weight-medium").mark(f"value-{metric}")
        self.set(None)

    def set(self, value: float | None, level: str = "unknown") -> None:
        colour = LEVEL_COLOURS[level]
        self.value.set_text(format_value(self.metric, value))
        self.value.style(f"color: {colour}")
        self.dot.style(f"color: {colour}")


class ScoreLine:
    """The room's IAQ score and level in the level's colour; below, the metric that drives it."""

    def __init__(self) -> None:
        with ui.row().classes("w-full items-baseline justify-between no-wrap gap-2"):
            ui.label(_("IAQ score")).classes("text-body2 text-grey-8")
            with ui.row().classes("items-baseline gap-2 no-wrap"):
                self.level = ui.label().classes("text-body2").mark("tile-level")
                self.score = ui.label().classes("text-h6 text-weight-bold").mark("tile-score")
        self.detail = ui.label().classes("text-caption text-grey-7 -mt-2").mark("tile-driver")

    def show(self, score: float | None, level: str, detail: str) -> None:
        """`score` None: none to show (no values, or only stale ones); `detail` says why or what drives it."""
        colour = LEVEL_COLOURS.get(level, LEVEL_COLOURS["unknown"])
        # Rounded down, so that the number shown is at or above its level's cut point (79.9 is not "80 good").
        self.score.set_text("—" if score is None else f"{int(score)}")
        self.score.style(f"color: {colour}")
        self.level.set_text(level_name(level) if score is not None else "")
        self.level.style(f"color: {colour}")
        self.detail.set_text(detail)


class RoomTile:
    """A card with the IAQ score and one line per core metric, its left edge in the colour of the score's
    level. `update()` changes texts and colours in place.

    With `target` the whole card is a link (the dashboard's tiles open the room view). `times` gives the time
    of each value when they differ (else all are `updated_ms`): values older than `stale_after_s` are left
    out of the score, as the API does.
    """

    def __init__(
        self,
        name: str,
        values: dict[str, float] | None = None,
        updated_ms: int | None = None,
        *,
        target: str | None = None,
        caption: str | None = None,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        times: dict[str, int] | None = None,
        stale_after_s: float = 3600.0,
    ) -> None:
        self.values: dict[str, float] = {}
        self.times: dict[str, int] = {}
        self.updated_ms: int | None = None
        self.thresholds, self.stale_after_ms = thresholds, int(stale_after_s * 1000)
        self.stale: set[str] = set()
        container = ui.link(target=target) if target else ui.element("div")
        container.style("color: inherit; text-decoration: none")
        card_classes = "w-64 gap-1" + (" cursor-pointer hover:shadow-lg" if target else "")
        with container, ui.card().classes(card_classes) as self.card:
            with ui.row().classes("w-full items-baseline justify-between no-wrap"):
                ui.label(name).classes("text-subtitle1 text-weight-medium ellipsis")
                if caption:
                    ui.label(caption).classes("text-caption text-grey-7")
            ui.separator()
            self.score = ScoreLine()
            self.lines = {metric: MetricValue(metric) for metric in CORE_METRICS}
            self.age = ui.label().classes("text-caption text-grey-7").mark("tile-age")
        self.element = container
        if values:
            self.update(values, updated_ms or 0, times)
        else:
            self._show_score()
            self._show_age()
        ui.timer(AGE_REFRESH_S, self._tick)

    def update(self, values: dict[str, float], ts_ms: int, times: dict[str, int] | None = None) -> None:
        """Show newer values (a reading may carry only some metrics); older readings are ignored."""
        if self.updated_ms is not None and ts_ms < self.updated_ms:
            return
        self.updated_ms = ts_ms
        for metric, value in values.items():
            self.values[metric] = value
            self.times[metric] = (times or {}).get(metric, ts_ms)
        self._show_score()
        self._show_age()

    def set_thresholds(self, thresholds: Thresholds) -> None:
        """Score with other thresholds (an override changed)."""
        if thresholds is not self.thresholds:
            self.thresholds = thresholds
            self._show_score()

    def _show_score(self) -> None:
        latest = {metric: (value, self.times[metric]) for metric, value in self.values.items()}
        fresh, stale = split_stale(latest, int(time.time() * 1000), self.stale_after_ms)
        self.stale = set(stale)
        result = room_score(fresh, self.thresholds)
        subs = result.sub_scores if result else {}
        for metric, line in self.lines.items():  # a stale value is shown grey: it does not count
            sub = subs.get(metric)
            line.set(self.values.get(metric), sub.level if sub else "unknown")
        left_out = (
            _("; stale, left out: {join}").format(join=", ".join(_label(m) for m in sorted(stale)))
            if stale
            else ""
        )
        if result is not None:
            self.score.show(
                result.score,
                result.level,
                _("driven by {label}{left_out}").format(
                    label=_label(result.driver_metric), left_out=left_out
                ),
            )
        elif stale:
            self.score.show(
                None,
                "unknown",
                _("no reading in the last {format_age}").format(
                    format_age=format_age(self.stale_after_ms / 1000)
                ),
            )
        else:
            self.score.show(None, "unknown", _("no score yet"))
        self.card.style(f"border-left: 6px solid {LEVEL_COLOURS[result.level if result else 'unknown']}")

    def _tick(self) -> None:
        self._show_age()
        now_ms = int(time.time() * 1000)
        if {m for m, ts in self.times.items() if now_ms - ts > self.stale_after_ms} != self.stale:
            self._show_score()  # values become stale with time alone

    def _show_age(self) -> None:
        if self.updated_ms is None:
            text = _("no readings yet")
        else:
            text = _("updated {format_age} ago").format(
                format_age=format_age(time.time() - self.updated_ms / 1000)
            )
        if self.age.text != text:  # most ticks change nothing: send nothing then
            self.age.set_text(text)


def _label(metric: str) -> str:
    return metric_name(metric)
