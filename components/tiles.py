"""A room tile: the IAQ score, the latest value of each core metric coloured by its sub-score's level, and
the age of the data. The score comes from `app.core.domain.score` on the tile's own values: no extra query."""

from __future__ import annotations

import time

from nicegui import ui

from app.core.domain.metrics import CORE_METRICS
from app.core.domain.score import DEFAULT_THRESHOLDS, LEVEL_COLOURS, Thresholds, room_score, split_stale
from app.core.i18n import _, measure, ngettext

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


class RoomTileView(ui.element, component="room_tile.js"):
    """One element per tile, drawn by `room_tile.js` from its props: a tab of the dashboard of a building of
    200 rooms holds 200 of these instead of 8 000 labels, rows and icons (issue 17's memory figures)."""

    def _displayed_contents(self, *, only_visible: bool) -> list:
        """What the tile shows as text, for the `user` test fixture's `should_see`."""
        props = self.props
        lines = [text for line in props.get("lines", []) for text in (line["label"], line["text"])]
        alerts = (props.get("alerts") or {}).get("text")
        return (
            [props.get(k) for k in ("name", "caption", "score", "level", "detail", "age")] + lines + [alerts]
        )


class RoomTile:
    """A card with the IAQ score and one line per core metric, its left edge in the colour of the score's
    level. `update()` changes texts and colours in place; the tile is one element (`RoomTileView`, in a
    `div` that pages mark), sent to the browser only when something it shows has changed.

    With `target` the whole card is a link (the dashboard's tiles open the room view). `times` gives the time
    of each value when they differ (else all are `updated_ms`): values older than `stale_after_s` are left
    out of the score, as the API does. `ticking`: the tile refreshes its age itself (a board of many tiles
    calls `tick()` of each from one timer instead).
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
        ticking: bool = True,
    ) -> None:
        self.values: dict[str, float] = {}
        self.times: dict[str, int] = {}
        self.updated_ms: int | None = None
        self.thresholds, self.stale_after_ms = thresholds, int(stale_after_s * 1000)
        self.stale: set[str] = set()
        with ui.element("div") as self.element:  # the tile's place on the page, to mark and scope
            self.view = RoomTileView()
        self.view.props.update(
            name=name, caption=caption or "", href=target or "", title=_("IAQ score"), alerts=None
        )
        if values:
            self.update(values, updated_ms or 0, times)
        else:
            self._show_score()
            self._show_age()
        if ticking:
            ui.timer(AGE_REFRESH_S, self.tick)

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

    def show_alerts(self, counts: dict[str, int] | None) -> None:
        """The room's open alerts as a badge (none: no badge)."""
        total = sum((counts or {}).values())
        text = ngettext("{n} open alert", "{n} open alerts", total).format(n=total) if total else ""
        colour = "negative" if (counts or {}).get("critical") else "orange-8"
        self._set(alerts={"text": text, "colour": colour} if total else None)

    def _set(self, **props) -> None:
        """Change props; send the tile to the browser only if one of them changed."""
        current = self.view.props
        changed = {k: v for k, v in props.items() if current.get(k) != v}
        if changed:
            current.update(changed)  # observed: NiceGUI sends the element once, at the end of this turn

    def _show_score(self) -> None:
        latest = {metric: (value, self.times[metric]) for metric, value in self.values.items()}
        fresh, stale = split_stale(latest, int(time.time() * 1000), self.stale_after_ms)
        self.stale = set(stale)
        result = room_score(fresh, self.thresholds)
        subs = result.sub_scores if result else {}
        lines = []
        for metric in CORE_METRICS:  # a stale value is shown grey: it does not count
            sub = subs.get(metric)
            colour = LEVEL_COLOURS[sub.level if sub else "unknown"]
            lines.append(
                {
                    "label": metric_name(metric),
                    "text": format_value(metric, self.values.get(metric)),
                    "colour": colour,
                }
            )
        left_out = (
            _("; stale, left out: {join}").format(join=", ".join(_label(m) for m in sorted(stale)))
            if stale
            else ""
        )
        if result is not None:
            score, level = result.score, result.level
            detail = _("driven by {label}{left_out}").format(
                label=_label(result.driver_metric), left_out=left_out
            )
        elif stale:
            score, level = None, "unknown"
            detail = _("no reading in the last {format_age}").format(
                format_age=format_age(self.stale_after_ms / 1000)
            )
        else:
            score, level, detail = None, "unknown", _("no score yet")
        self._set(
            # rounded down: the number shown is at or above its level's cut point (79.9 is not "80 good")
            score="—" if score is None else f"{int(score)}",
            level=level_name(level) if score is not None else "",
            colour=LEVEL_COLOURS.get(level, LEVEL_COLOURS["unknown"]),
            detail=detail,
            lines=lines,
        )

    def tick(self) -> None:
        """Refresh the age, and the score when values have become stale with time alone."""
        self._show_age()
        now_ms = int(time.time() * 1000)
        if {m for m, ts in self.times.items() if now_ms - ts > self.stale_after_ms} != self.stale:
            self._show_score()

    def _show_age(self) -> None:
        if self.updated_ms is None:
            text = _("no readings yet")
        else:
            text = _("updated {format_age} ago").format(
                format_age=format_age(time.time() - self.updated_ms / 1000)
            )
        self._set(age=text)  # most ticks change nothing: send nothing then


def _label(metric: str) -> str:
    return metric_name(metric)
