"""A room tile: the latest value of each core metric, coloured by its air-quality level, and its age."""

from __future__ import annotations

import time

from nicegui import ui

from app.domain.levels import LEVEL_COLOURS, level_of, worst_level
from app.domain.metrics import CORE_METRICS

AGE_REFRESH_S = 5.0


def format_value(metric: str, value: float | None) -> str:
    """`812.4` -> `812 ppm`; unknown values -> `—`."""
    if value is None:
        return "—"
    info = CORE_METRICS.get(metric)
    if info is None:
        return f"{value:g}"
    return f"{value:,.{info.decimals}f} {info.unit}".replace(",", "\u202f")  # thin space groups thousands


def format_age(seconds: float) -> str:
    """How long ago, in the coarsest unit that still says something: `12 s`, `4 min`, `3 h`, `2 d`."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


class MetricValue:
    """One line of a tile: metric label on the left, value with unit on the right, coloured by level."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        with ui.row().classes("w-full items-center justify-between no-wrap gap-2"):
            with ui.row().classes("items-center gap-2 no-wrap"):
                self.dot = ui.icon("circle", size="10px")
                ui.label(CORE_METRICS[metric].label).classes("text-body2 text-grey-8")
            self.value = ui.label().classes("text-body1 text-weight-medium").mark(f"value-{metric}")
        self.set(None)

    def set(self, value: float | None) -> None:
        colour = LEVEL_COLOURS[level_of(self.metric, value)]
        self.value.set_text(format_value(self.metric, value))
        self.value.style(f"color: {colour}")
        self.dot.style(f"color: {colour}")


class RoomTile:
    """A card with one line per core metric, its left edge in the colour of the worst level.
    `update()` changes texts and colours in place.

    With `target` the whole card is a link (the dashboard's tiles open the room view).
    """

    def __init__(
        self,
        name: str,
        values: dict[str, float] | None = None,
        updated_ms: int | None = None,
        *,
        target: str | None = None,
        caption: str | None = None,
    ) -> None:
        self.values: dict[str, float] = {}
        self.updated_ms: int | None = None
        container = ui.link(target=target) if target else ui.element("div")
        container.style("color: inherit; text-decoration: none")
        card_classes = "w-64 gap-1" + (" cursor-pointer hover:shadow-lg" if target else "")
        with container, ui.card().classes(card_classes) as self.card:
            with ui.row().classes("w-full items-baseline justify-between no-wrap"):
                ui.label(name).classes("text-subtitle1 text-weight-medium ellipsis")
                if caption:
                    ui.label(caption).classes("text-caption text-grey-7")
            ui.separator()
            self.lines = {metric: MetricValue(metric) for metric in CORE_METRICS}
            self.age = ui.label().classes("text-caption text-grey-7").mark("tile-age")
        self.element = container
        if values:
            self.update(values, updated_ms or 0)
        else:
            self._show_age()
        ui.timer(AGE_REFRESH_S, self._show_age)

    def update(self, values: dict[str, float], ts_ms: int) -> None:
        """Show newer values (a reading may carry only some metrics); older readings are ignored."""
        if self.updated_ms is not None and ts_ms < self.updated_ms:
            return
        self.updated_ms = ts_ms
        for metric, value in values.items():
            self.values[metric] = value
            if metric in self.lines:
                self.lines[metric].set(value)
        worst = worst_level([level_of(metric, self.values.get(metric)) for metric in self.lines])
        self.card.style(f"border-left: 6px solid {LEVEL_COLOURS[worst]}")
        self._show_age()

    def _show_age(self) -> None:
        if self.updated_ms is None:
            text = "no readings yet"
        else:
            text = f"updated {format_age(time.time() - self.updated_ms / 1000)} ago"
        if self.age.text != text:  # most ticks change nothing: send nothing then
            self.age.set_text(text)
