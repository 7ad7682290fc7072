"""Regular time grids of one metric: what every forecasting model reads.

Readings arrive at irregular times with gaps and duplicates. Models work on a grid of fixed step with
NaN where nothing was measured; a short gap is bridged for features (never for the values scored).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from app.core.domain.metrics import ALL_KNOWN, CORE_METRICS

# Local zones of the shared recordings, for the occupancy profiles (time of day in the building).
# The smart-building office is UC Berkeley's (Hong, Gu, Whitehouse 2017): Pacific time.
DATASET_ZONES = {
    "uci": "Europe/Brussels",
    "uhoo": "Europe/Rome",
    "r1": "Europe/Paris",
    "awair": "America/New_York",
    "smart-building": "America/Los_Angeles",
}
GAP_FILL_S = 15 * 60  # a gap up to this long is bridged with the last value for features


@dataclass
class Series:
    """Values of one metric on a regular grid: ``values[i]`` was measured at ``t0_s + i * step_s``."""

    name: str
    t0_s: float
    step_s: float
    values: np.ndarray  # float, NaN where nothing was measured
    tz: str = "UTC"
    # the room's ventilation level (0 to 1) on the same grid, from its modules' state history; None when the
    # room has no air-exchanging module (or nothing is known of them, as in the shared recordings)
    ventilation: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def times_s(self) -> np.ndarray:
        return self.t0_s + self.step_s * np.arange(len(self.values))

    def steps(self, minutes: float) -> int:
        """A duration in whole grid steps (at least one)."""
        return max(1, round(minutes * 60 / self.step_s))

    def filled(self) -> np.ndarray:
        """Values with gaps up to ``GAP_FILL_S`` bridged by the last measured value."""
        return forward_fill(self.values, max(1, int(GAP_FILL_S // self.step_s)))

    def slice(self, start: int, stop: int) -> Series:
        vent = self.ventilation[start:stop] if self.ventilation is not None else None
        return Series(
            self.name, self.t0_s + start * self.step_s, self.step_s, self.values[start:stop], self.tz, vent
        )

    def time_of_week(self) -> tuple[np.ndarray, np.ndarray]:
        """(hour of day as a float, True on Saturday and Sunday) in the series' local time, per grid point."""
        zone = ZoneInfo(self.tz)
        # the offset changes at most twice a year: compute it per day, not per point
        times = self.times_s
        day_starts = np.unique((times // 86400) * 86400)
        offsets = {
            int(d): datetime.fromtimestamp(d + 43200, UTC).astimezone(zone).utcoffset().total_seconds()
            for d in day_starts
        }
        local = times + np.array([offsets[int(d)] for d in (times // 86400) * 86400])
        hours = (local % 86400) / 3600.0
        weekday = ((local // 86400).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)
        return hours, weekday >= 5


def room_ventilation(changes: Iterable[tuple[int, float, float]]) -> list[tuple[float, float]]:
    """A room's ventilation level over time from its modules' state changes (module id, epoch seconds, level
    0-1), in time order: (epoch seconds, level) at each change of the room's level, the highest of its
    modules' (a window open or a fan on ventilate the room; the model has one rate for "ventilated").
    A module counts as 0 before its first known state: it was not registered yet, and a module's history
    always starts with the state it was registered in."""
    levels: dict[int, float] = {}
    out: list[tuple[float, float]] = []
    for module_id, t_s, level in sorted(changes, key=lambda c: c[1]):
        levels[module_id] = float(level)
        room = max(levels.values())
        if out and out[-1][0] == t_s:
            out[-1] = (t_s, room)
        elif not out or out[-1][1] != room:
            out.append((t_s, room))
    return out


def ventilation_on_grid(
    t0_s: float, step_s: float, n: int, steps: list[tuple[float, float]]
) -> np.ndarray | None:
    """A step function on the grid: at each point, the level of the last change at or before it (a state
    holds until the next change), 0 before the first. None without any change: nothing is known."""
    if not steps:
        return None
    times = np.array([t for t, _ in steps], dtype=float)
    levels = np.array([v for _, v in steps], dtype=float)
    grid = t0_s + step_s * np.arange(n)
    index = np.searchsorted(times, grid, side="right") - 1
    return np.where(index >= 0, levels[np.maximum(index, 0)], 0.0)


def forward_fill(values: np.ndarray, limit: int) -> np.ndarray:
    """Carry the last finite value forward over at most ``limit`` missing points."""
    out = values.copy()
    idx = np.where(np.isfinite(values), np.arange(len(values)), -1)
    last = np.maximum.accumulate(idx)
    fill = (last >= 0) & ~np.isfinite(values) & (np.arange(len(values)) - last <= limit)
    out[fill] = values[last[fill]]
    return out


def typical_step_s(times_s: np.ndarray) -> float:
    """The most common spacing between readings, rounded to the minute (at least one minute)."""
    diffs = np.diff(np.unique(times_s))
    if len(diffs) == 0:
        return 60.0
    step = float(np.median(diffs))
    return max(60.0, round(step / 60.0) * 60.0)


def to_grid(
    points: Iterable[tuple[float, float]],
    *,
    name: str,
    metric: str,
    tz: str = "UTC",
    step_s: float | None = None,
) -> Series | None:
    """Put (epoch seconds, value) points on a regular grid; values outside the metric's physical range are
    dropped, as the platform's validation would. Several points in one cell are averaged."""
    arr = np.array([(t, v) for t, v in points if v is not None], dtype=float).reshape(-1, 2)
    meta = CORE_METRICS.get(metric)
    if meta is not None and len(arr):
        arr = arr[(arr[:, 1] >= meta.low) & (arr[:, 1] <= meta.high)]
    if len(arr) < 2:
        return None
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    step = step_s or typical_step_s(arr[:, 0])
    t0 = float(np.floor(arr[0, 0] / step) * step)
    cells = np.round((arr[:, 0] - t0) / step).astype(np.int64)
    sums = np.bincount(cells, weights=arr[:, 1])
    counts = np.bincount(cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return Series(name, t0, step, values, tz)


def dataset_series(path: str | Path, fmt: str, metric: str) -> list[Series]:
    """One grid per sensor of a shared data set file (``services.datasets`` formats)."""
    from services.datasets import read_dataset

    by_sensor: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in read_dataset(path, fmt):
        value = row.values.get(metric)
        if value is not None:
            if metric == "tvoc" and row.units.get("tvoc") == "ppb":
                value *= 4.5  # the platform's stated reference factor (IAQ_TVOC_UGM3_PER_PPB)
            by_sensor[row.sensor_id].append((row.ts.timestamp(), value))
    tz = DATASET_ZONES.get(fmt, "UTC")
    grids = (
        to_grid(points, name=sensor, metric=metric, tz=tz) for sensor, points in sorted(by_sensor.items())
    )
    return [grid for grid in grids if grid is not None]


OUTDOOR_CO2_PPM = 400.0  # a conservative outdoor level (about 420 ppm today)


def physical_bounds(metric: str, history: Iterable[float]) -> tuple[float, float]:
    """The range a forecast and its interval must stay in: the metric's physical range (no negative
    concentration, humidity within 0-100 %), and for CO2 nothing below the room's own baseline, the outdoor
    level its emptiest hours show (the 1st percentile of its history), since ventilation cannot take a room
    below the air it brings in."""
    info = ALL_KNOWN.get(metric)
    low, high = (info.low, info.high) if info else (-math.inf, math.inf)
    if metric == "co2":
        values = np.asarray([v for v in history if math.isfinite(v)], dtype=float)
        if values.size:  # hours of an occupied room do not show its outdoor level: never above 400 ppm
            low = max(low, min(float(np.percentile(values, 1)), OUTDOOR_CO2_PPM))
    return low, high
