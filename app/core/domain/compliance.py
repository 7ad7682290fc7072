"""Compliance of a room over a period: how much of its occupied time fell in each EN 16798-1 CO2 category,
and how much was above the WHO PM2.5 guideline. Pure: the caller supplies the readings and the opening hours.

Each reading stands for the time until the room's next reading, at most `max_gap_ms` (a gap in the data
is not counted as anything); a reading counts as occupied time when the site is open at its timestamp.
Shares are of the occupied time covered by readings of that metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# EN 16798-1:2019, Annex B, default design CO2 concentrations above outdoor (ppm) per category; IV: beyond III
CO2_CATEGORIES: tuple[tuple[str, float], ...] = (
    ("I", 550.0),
    ("II", 800.0),
    ("III", 1350.0),
    ("IV", math.inf),
)
# WHO Global Air Quality Guidelines 2021: 24-hour PM2.5 guideline (µg/m³); the annual one (5) is for
# long-term means and would count almost every indoor minute as "above"
WHO_PM25_24H_UGM3 = 15.0
DEFAULT_MAX_GAP_MS = 15 * 60_000
REFERENCES = {
    "co2": "EN 16798-1:2019 Annex B: category I <= 550, II <= 800, III <= 1350 ppm above outdoor; IV above",
    "pm25": "WHO Global Air Quality Guidelines 2021: 24-hour guideline 15 µg/m³",
}

Sample = tuple[int, float]  # (ts_ms, value)


def co2_category(co2_ppm: float, outdoor_ppm: float) -> str:
    """The EN 16798-1 category of a CO2 concentration; a value on a boundary belongs to the better one."""
    above = co2_ppm - outdoor_ppm
    return next(name for name, limit in CO2_CATEGORIES if above <= limit)


def occupied_spans(
    samples: list[Sample], *, end_ms: int, max_gap_ms: int, is_open: Callable[[int], bool]
) -> Iterator[tuple[float, int]]:
    """(value, ms it stands for) of each reading taken while the site is open, in time order."""
    ordered = sorted(samples)
    for i, (ts, value) in enumerate(ordered):
        next_ts = (
            ordered[i + 1][0] if i + 1 < len(ordered) else max(end_ms, ts)
        )  # the last one: until the end
        duration = min(next_ts - ts, max_gap_ms)
        if duration > 0 and is_open(ts):
            yield value, duration


@dataclass(slots=True)
class Compliance:
    co2_ms: dict[str, int] = field(default_factory=lambda: {name: 0 for name, _ in CO2_CATEGORIES})
    pm25_above_ms: int = 0
    pm25_ms: int = 0

    @property
    def co2_total_ms(self) -> int:
        return sum(self.co2_ms.values())

    def co2_share(self, category: str) -> float | None:
        total = self.co2_total_ms
        return self.co2_ms[category] / total if total else None

    @property
    def pm25_above_share(self) -> float | None:
        return self.pm25_above_ms / self.pm25_ms if self.pm25_ms else None


def compliance(
    co2: list[Sample],
    pm25: list[Sample],
    *,
    end_ms: int,
    outdoor_ppm: float,
    is_open: Callable[[int], bool] = lambda _ts: True,
    max_gap_ms: int = DEFAULT_MAX_GAP_MS,
    pm25_limit: float = WHO_PM25_24H_UGM3,
) -> Compliance:
    """Time of occupied readings per CO2 category and above the PM2.5 guideline (see the module's doc)."""
    result = Compliance()
    for value, ms in occupied_spans(co2, end_ms=end_ms, max_gap_ms=max_gap_ms, is_open=is_open):
        result.co2_ms[co2_category(value, outdoor_ppm)] += ms
    for value, ms in occupied_spans(pm25, end_ms=end_ms, max_gap_ms=max_gap_ms, is_open=is_open):
        result.pm25_ms += ms
        if value > pm25_limit:
            result.pm25_above_ms += ms
    return result
