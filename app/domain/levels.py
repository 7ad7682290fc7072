"""Coarse air-quality level of one metric value, for colouring tiles and charts.

Bands follow the references the IAQ score uses: EN 16798-1 categories for CO2 above an outdoor
level of 420 ppm (I/II/III at +550/+800/+1350 ppm), WHO 2021 and US EPA 2024 breakpoints for PM2.5,
the German UBA TVOC levels (0.3 / 1 / 3 mg/m³), and the comfort ranges 20-26 °C and 30-60 % RH.
"""

from __future__ import annotations

LEVELS = ("good", "moderate", "poor", "bad")
LEVEL_COLOURS = {
    "good": "#2e7d32",
    "moderate": "#f9a825",
    "poor": "#ef6c00",
    "bad": "#c62828",
    "unknown": "#757575",
}

# metric -> upper bounds of good, moderate, poor (above the last one: bad)
_UPPER_BOUNDS: dict[str, tuple[float, float, float]] = {
    "co2": (420 + 550, 420 + 800, 420 + 1350),
    "pm25": (15.0, 35.4, 55.4),
    "pm10": (45.0, 154.0, 254.0),
    "tvoc": (300.0, 1000.0, 3000.0),
}

# metric -> (comfortable low, high, tolerable low, high, acceptable low, high)
_COMFORT: dict[str, tuple[float, float, float, float, float, float]] = {
    "temperature": (20.0, 26.0, 19.0, 27.0, 17.0, 29.0),
    "humidity": (30.0, 60.0, 25.0, 70.0, 20.0, 80.0),
}


def level_of(metric: str, value: float | None) -> str:
    """Return good / moderate / poor / bad for a value, or `unknown` for metrics without bands."""
    if value is None:
        return "unknown"
    if metric in _UPPER_BOUNDS:
        for level, bound in zip(LEVELS, _UPPER_BOUNDS[metric], strict=False):
            if value <= bound:
                return level
        return "bad"
    if metric in _COMFORT:
        lo1, hi1, lo2, hi2, lo3, hi3 = _COMFORT[metric]
        if lo1 <= value <= hi1:
            return "good"
        if lo2 <= value <= hi2:
            return "moderate"
        if lo3 <= value <= hi3:
            return "poor"
        return "bad"
    return "unknown"


def worst_level(levels: list[str]) -> str:
    """The worst of several levels (unknown counts as nothing)."""
    known = [lv for lv in levels if lv in LEVELS]
    return max(known, key=LEVELS.index) if known else "unknown"
