"""Metric names, canonical units, physical ranges and unit conversion.

Canonical units: CO2 ppm, PM2.5 and PM10 µg/m³, TVOC µg/m³, temperature °C, relative humidity %.
Any other metric is stored as it comes, under a normalised name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    label: str
    unit: str
    low: float  # physical range: values outside cannot come from a working sensor
    high: float
    decimals: int = 1


# The five core metrics have their own columns in the embedded store; order is the display order.
CORE_METRICS: dict[str, Metric] = {
    "co2": Metric("co2", "CO₂", "ppm", 0, 40_000, 0),
    "pm25": Metric("pm25", "PM2.5", "µg/m³", 0, 5_000, 1),
    "tvoc": Metric("tvoc", "TVOC", "µg/m³", 0, 100_000, 0),
    "temperature": Metric("temperature", "Temperature", "°C", -50, 100, 1),
    "humidity": Metric("humidity", "Humidity", "%", 0, 100, 0),
}

# Known extra metrics get a range check too; unknown ones only have to be finite numbers.
KNOWN_EXTRA_METRICS: dict[str, Metric] = {
    "pm10": Metric("pm10", "PM10", "µg/m³", 0, 10_000, 1),
    "pm1": Metric("pm1", "PM1", "µg/m³", 0, 5_000, 1),
    "no2": Metric("no2", "NO₂", "ppb", 0, 50_000, 0),
    "co": Metric("co", "CO", "ppm", 0, 10_000, 1),
    "o3": Metric("o3", "O₃", "ppb", 0, 10_000, 0),
    "pressure": Metric("pressure", "Pressure", "hPa", 300, 1_200, 1),
    "light": Metric("light", "Light", "lux", 0, 200_000, 0),
    "noise": Metric("noise", "Noise", "dBA", 0, 200, 0),
}

ALL_KNOWN = {**CORE_METRICS, **KNOWN_EXTRA_METRICS}

_ALIASES = {
    "co2": "co2",
    "carbondioxide": "co2",
    "eco2": "co2",
    "pm25": "pm25",
    "pm2.5": "pm25",
    "pm2_5": "pm25",
    "pm10": "pm10",
    "pm1": "pm1",
    "pm1.0": "pm1",
    "tvoc": "tvoc",
    "voc": "tvoc",
    "cov": "tvoc",
    "temperature": "temperature",
    "temp": "temperature",
    "t": "temperature",
    "temperaturec": "temperature",
    "humidity": "humidity",
    "hum": "humidity",
    "rh": "humidity",
    "humidite": "humidity",
    "relativehumidity": "humidity",
    "no2": "no2",
    "co": "co",
    "o3": "o3",
    "ozone": "o3",
    "pressure": "pressure",
}

_NAME_OK = re.compile(r"^[a-z][a-z0-9_.]{0,62}$")


@lru_cache(maxsize=4096)  # sensors send the same few keys over and over
def canonical_name(raw: str) -> str | None:
    """Map a metric key as sensors send it (`CO2`, `PM2.5`, `Temperature`...) to its canonical name.

    Unknown metrics keep a normalised form of their own name (lower case, spaces and dashes as `_`).
    Returns None when the name cannot be a metric name at all.
    """
    key = raw.strip().lower()
    compact = key.replace(" ", "").replace("-", "").replace("_", "")
    if compact in _ALIASES:
        return _ALIASES[compact]
    if key in _ALIASES:
        return _ALIASES[key]
    normalised = re.sub(r"[\s\-]+", "_", key)
    return normalised if _NAME_OK.match(normalised) else None


# Unit conversion into canonical units: metric -> unit spelling -> function.
# TVOC in ppb has no exact mass equivalent (it depends on the mixture). We use the common reference of
# 4.5 µg/m³ per ppb: a VOC mixture of mean molar mass ~110 g/mol at 25 °C and 1 atm (110 / 24.45),
# the convention of the RESET Air standard and of most monitor makers. The factor is a setting.
def convert(metric: str, value: float, unit: str, *, tvoc_ugm3_per_ppb: float = 4.5) -> float:
    """Convert `value` from `unit` into the canonical unit of `metric`; ValueError for an unknown unit."""
    u = unit.strip().lower().replace("µ", "u").replace("³", "3").replace(" ", "")
    if metric == "tvoc":
        if u in {"ug/m3", "ugm3"}:
            return value
        if u in {"mg/m3", "mgm3"}:
            return value * 1000.0
        if u == "ppb":
            return value * tvoc_ugm3_per_ppb
        if u == "ppm":
            return value * 1000.0 * tvoc_ugm3_per_ppb
    elif metric == "temperature":
        if u in {"c", "°c", "celsius"}:
            return value
        if u in {"f", "°f", "fahrenheit"}:
            return (value - 32.0) * 5.0 / 9.0
        if u in {"k", "kelvin"}:
            return value - 273.15
    elif metric == "co2":
        if u == "ppm":
            return value
        if u == "ppb":
            return value / 1000.0
    elif metric in {"pm25", "pm10", "pm1"}:
        if u in {"ug/m3", "ugm3"}:
            return value
        if u in {"mg/m3", "mgm3"}:
            return value * 1000.0
    elif metric == "humidity" and u in {"%", "pct", "percent", "%rh"}:
        return value
    known = ALL_KNOWN.get(metric)
    if known is None or u == known.unit.lower().replace("µ", "u").replace("³", "3"):
        return value
    raise ValueError(f"unit {unit!r} is not supported for {metric} (canonical unit: {known.unit})")
