"""The IAQ score: a 0-100 sub-score per metric (100 best) and a room score driven by the worst metric.

Each metric has a scale of breakpoints taken from published references (cited on every table below and in
`docs/score.md`). Between two breakpoints the sub-score is linear, so it moves smoothly with the value and
each category boundary of a reference falls exactly on a level boundary of the score:

    score 100 ... 80 ... 60 ... 40 ... 20 ... 0
    level   excellent | good | moderate | poor | bad

A score exactly on a cut point belongs to the better level (80.0 is excellent), as a value exactly on a
category boundary belongs to the better category (550 ppm above outdoor is category I of EN 16798-1).

The room score is the lowest sub-score, as an AQI is the highest sub-index: one bad pollutant makes a bad
room, however good the others are (an average would hide it). Metrics without a value do not count; a room
without any scored value has no score at all, never a default of 100.

The references grade averages (24 h, 8 h, a season); the score applies their bands to current values as an
indicator of where a room stands now, as indoor air monitors commonly do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple

from app.core.i18n import _

from .readings import FieldError, InvalidInput

SCORE_LEVELS = ("excellent", "good", "moderate", "poor", "bad")
# The sub-scores at a scale's six breakpoints. The inner four are the levels' cut points (LEVEL_CUTS), so a
# metric's breakpoint k (1-4) is the boundary between level k-1 and level k of SCORE_LEVELS.
ANCHOR_SCORES = (100.0, 80.0, 60.0, 40.0, 20.0, 0.0)
LEVEL_CUTS = ((80.0, "excellent"), (60.0, "good"), (40.0, "moderate"), (20.0, "poor"))
LEVEL_COLOURS = {
    "excellent": "#1b5e20",
    "good": "#7cb342",
    "moderate": "#f9a825",
    "poor": "#ef6c00",
    "bad": "#c62828",
    "unknown": "#757575",
}
BREAKPOINTS = len(ANCHOR_SCORES)


@dataclass(frozen=True, slots=True)
class Scale:
    """Breakpoints of one metric, in its canonical unit (CO2: ppm above the outdoor level).

    `high[k]` is where the sub-score has fallen to ANCHOR_SCORES[k] on the way up (`high[0]` ends the
    range scored 100). Comfort metrics also have `low`, the same on the way down. Between `low[0]` and
    `high[0]` the sub-score is 100.
    """

    high: tuple[float, ...]
    low: tuple[float, ...] | None = None

    def score(self, value: float) -> float:
        if value > self.high[0]:
            return _fall(value, self.high)
        if self.low is not None and value < self.low[0]:
            return _fall(-value, tuple(-b for b in self.low))
        return 100.0

    def as_dict(self) -> dict[str, list[float]]:
        out = {"high": list(self.high)}
        if self.low is not None:
            out["low"] = list(self.low)
        return out


def _fall(x: float, bounds: tuple[float, ...]) -> float:
    """Linear between breakpoints `bounds` (ascending), from 100 at bounds[0] to 0 at bounds[-1]."""
    for (a, b), (score_a, score_b) in zip(pairwise(bounds), pairwise(ANCHOR_SCORES), strict=True):
        if x <= b:
            if x == b:
                return score_b  # exact on a boundary: no rounding error may push it into the worse level
            return score_a + (x - a) / (b - a) * (score_b - score_a)
    return 0.0


# -- the references, per metric ------------------------------------------------------------------------
# CO2, in ppm ABOVE the outdoor concentration (default outdoor 420 ppm, a current background level).
#   EN 16798-1:2019, Annex B (default design CO2 concentrations above outdoor, for non-adapted occupants):
#   category I <= 550, II <= 800, III <= 1350 ppm -> excellent / good / moderate.
#   German Federal Environment Agency (UBA), "Gesundheitliche Bewertung von Kohlendioxid in der
#   Innenraumluft", Bundesgesundheitsblatt 2008: above 2000 ppm hygienically unacceptable -> poor / bad at
#   2000 - 420 = 1580 ppm above outdoor.
#   5000 ppm, the 8-hour occupational exposure limit (EU Directive 2006/15/EC; US OSHA PEL) -> score 0 at
#   5000 - 420 = 4580 ppm above outdoor.
CO2_ABOVE_OUTDOOR_PPM = (0.0, 550.0, 800.0, 1350.0, 1580.0, 4580.0)
# PM2.5 in µg/m³.
#   WHO Global Air Quality Guidelines 2021: annual guideline 5, 24-hour guideline 15 -> excellent / good.
#   US EPA Air Quality Index, PM2.5 breakpoints revised in 2024 (PM NAAQS final rule, effective 6 May 2024):
#   good <= 9.0, moderate <= 35.4, unhealthy for sensitive groups <= 55.4, unhealthy <= 125.4,
#   very unhealthy <= 225.4, hazardous above -> moderate up to 35.4, poor up to 55.4, score 0 at 225.4.
#   (EPA's 9.0 falls inside "good" here, since WHO's 24-hour guideline of 15 is the stricter health basis
#   for short exposures; EPA's 125.4 falls inside "bad", at a score of 11.8.)
PM25_UGM3 = (0.0, 5.0, 15.0, 35.4, 55.4, 225.4)
# PM10 in µg/m³ (scored when a sensor sends it).
#   WHO 2021: annual guideline 15, 24-hour guideline 45 -> excellent / good.
#   US EPA AQI PM10 breakpoints (unchanged in 2024): moderate <= 154, unhealthy for sensitive groups
#   <= 254, very unhealthy <= 424 -> moderate up to 154, poor up to 254, score 0 at 424.
PM10_UGM3 = (0.0, 15.0, 45.0, 154.0, 254.0, 424.0)
# TVOC in µg/m³.
#   German UBA (Ad-hoc working group IRK/AOLG), "Beurteilung von Innenraumluftkontaminationen mittels
#   Referenz- und Richtwerten", Bundesgesundheitsblatt 2007: level 1 <= 0.3 mg/m³ hygienically harmless,
#   level 2 <= 1, level 3 <= 3 (noticeable), level 4 <= 10 (of concern), level 5 up to 25 mg/m³
#   (unacceptable; above 25 mg/m³ neurotoxic effects, after Mølhave 1991) -> one level per UBA level,
#   score 0 at 25 mg/m³.
TVOC_UGM3 = (0.0, 300.0, 1000.0, 3000.0, 10000.0, 25000.0)
# Temperature in °C (operative temperature for offices, sedentary activity).
#   EN 16798-1:2019, Annex B, default design ranges: category I 21.0-25.5, II 20.0-26.0, III 19.0-27.0
#   -> 100 inside category I; the comfort range 20-26 °C (category II) is excellent; category III good.
#   WHO Housing and Health Guidelines 2018: at least 18 °C indoors in cold seasons -> moderate / poor.
#   Public Health England, Cold Weather Plan: below 16 °C respiratory, below 12 °C cardiovascular
#   effects -> poor / bad at 16 °C, score 0 at 12 °C.
#   Above 27 °C no standard grades indoor heat in these terms: 28 / 30 / 35 °C are this project's choice.
TEMPERATURE_HIGH_C = (25.5, 26.0, 27.0, 28.0, 30.0, 35.0)
TEMPERATURE_LOW_C = (21.0, 20.0, 19.0, 18.0, 16.0, 12.0)
# Relative humidity in %.
#   EN 16798-1:2019, Annex B, design humidity with (de)humidification (the values of EN 15251:2007):
#   category I 30-50, II 25-60, III 20-70 % -> 100 inside category I; the comfort range 30-60 % is
#   excellent; category III good. Beyond category III (15 / 80, 10 / 90, 0 / 100 %): this project's choice.
HUMIDITY_HIGH_PCT = (50.0, 60.0, 70.0, 80.0, 90.0, 100.0)
HUMIDITY_LOW_PCT = (30.0, 25.0, 20.0, 15.0, 10.0, 0.0)

DEFAULT_SCALES: dict[str, Scale] = {  # also the order in which ties are broken: pollutants first
    "co2": Scale(CO2_ABOVE_OUTDOOR_PPM),
    "pm25": Scale(PM25_UGM3),
    "pm10": Scale(PM10_UGM3),
    "tvoc": Scale(TVOC_UGM3),
    "temperature": Scale(TEMPERATURE_HIGH_C, TEMPERATURE_LOW_C),
    "humidity": Scale(HUMIDITY_HIGH_PCT, HUMIDITY_LOW_PCT),
}
DEFAULT_OUTDOOR_CO2_PPM = 420.0

REFERENCES: dict[str, str] = {
    "co2": "EN 16798-1:2019 Annex B categories I/II/III: 550/800/1350 ppm above outdoor; "
    "UBA 2008: above 2000 ppm unacceptable; 5000 ppm 8-h occupational limit (EU 2006/15/EC)",
    "pm25": "WHO Air Quality Guidelines 2021: 5 µg/m³ annual, 15 µg/m³ 24-h; "
    "US EPA AQI 2024: 9.0/35.4/55.4/125.4/225.4 µg/m³",
    "pm10": "WHO Air Quality Guidelines 2021: 15 µg/m³ annual, 45 µg/m³ 24-h; "
    "US EPA AQI: 54/154/254/354/424 µg/m³",
    "tvoc": "German UBA (Ad-hoc AG IRK/AOLG 2007) TVOC levels: 0.3/1/3/10/25 mg/m³",
    "temperature": "EN 16798-1:2019 Annex B categories I/II/III: 21-25.5/20-26/19-27 °C; "
    "WHO Housing and Health Guidelines 2018: at least 18 °C",
    "humidity": "EN 16798-1:2019 Annex B categories I/II/III: 30-50/25-60/20-70 % RH",
}


def level_of_score(score: float) -> str:
    """excellent >= 80 > good >= 60 > moderate >= 40 > poor >= 20 > bad."""
    for cut, level in LEVEL_CUTS:
        if score >= cut:
            return level
    return "bad"


class SubScore(NamedTuple):
    score: float  # 0-100, rounded down to 0.1 so that a displayed 80.0 is never below the cut point
    level: str
    value: float


@dataclass(frozen=True, slots=True)
class RoomScore:
    score: float
    level: str
    driver_metric: str  # the metric with the lowest sub-score: what to act on
    sub_scores: dict[str, SubScore]


@dataclass(frozen=True)
class Thresholds:
    """The scales in force for a room: the defaults above, overridden per deployment, site and room."""

    outdoor_co2_ppm: float = DEFAULT_OUTDOOR_CO2_PPM
    scales: Mapping[str, Scale] = field(default_factory=lambda: dict(DEFAULT_SCALES))

    def sub_score(self, metric: str, value: float) -> float | None:
        """The 0-100 sub-score of one value, rounded down to 0.1; None for a metric without a scale."""
        scale = self.scales.get(metric)
        if scale is None or not math.isfinite(value):
            return None
        raw = scale.score(value - self.outdoor_co2_ppm if metric == "co2" else value)
        return math.floor(raw * 10 + 1e-9) / 10

    def as_dict(self) -> dict[str, Any]:
        """The JSON form, which is also the form of an override (any subset of it)."""
        return {
            "outdoor_co2_ppm": self.outdoor_co2_ppm,
            **{metric: scale.as_dict() for metric, scale in self.scales.items()},
        }

    def merged(self, override: Mapping[str, Any] | None) -> Thresholds:
        """These thresholds with `override` applied: `{"outdoor_co2_ppm": 450, "co2": {"high": [...]}}`.

        Each list given replaces that side of the metric's scale whole (6 breakpoints, where the sub-score
        reaches 100, 80, 60, 40, 20 and 0). Raises InvalidInput naming every bad field.
        """
        if override is None:
            return self
        if not isinstance(override, Mapping):
            raise FieldError(
                "score_thresholds", _('must be an object such as {"co2": {"high": [...]}}')
            ).as_error()
        errors: list[FieldError] = []
        outdoor = self.outdoor_co2_ppm
        scales = dict(self.scales)
        for key, spec in override.items():
            if key == "outdoor_co2_ppm":
                if not _is_number(spec) or not 0 <= spec <= 1000:
                    errors.append(FieldError(key, _("must be a number of ppm between 0 and 1000")))
                else:
                    outdoor = float(spec)
            elif key not in scales:
                known = ", ".join(["outdoor_co2_ppm", *scales])
                errors.append(
                    FieldError(
                        str(key), _("is not a scored metric or setting (known: {known})").format(known=known)
                    )
                )
            else:
                scale = _merge_scale(str(key), scales[key], spec, errors)
                if scale is not None:
                    scales[key] = scale
        if errors:
            raise InvalidInput(errors)
        return Thresholds(outdoor, scales)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _merge_scale(metric: str, base: Scale, spec: Any, errors: list[FieldError]) -> Scale | None:
    if not isinstance(spec, Mapping):
        errors.append(FieldError(metric, _('must be an object such as {"high": [6 breakpoints]}')))
        return None
    n = len(errors)
    for key in spec:
        if key not in ("high", "low"):
            errors.append(FieldError(f"{metric}.{key}", _("is not a known field (expected: high, low)")))
    if "low" in spec and base.low is None:
        errors.append(
            FieldError(f"{metric}.low", _("{metric} is scored on its high side only").format(metric=metric))
        )
    high = _breakpoints(f"{metric}.high", spec["high"], 1, errors) if "high" in spec else base.high
    low = _breakpoints(f"{metric}.low", spec["low"], -1, errors) if "low" in spec else base.low
    if len(errors) > n or high is None:
        return None
    if low is not None and low[0] > high[0]:
        errors.append(
            FieldError(
                f"{metric}.low[0]",
                _("must not be above {metric}.high[0] ({first:g})").format(metric=metric, first=high[0]),
            )
        )
        return None
    return Scale(high, low)


def _breakpoints(
    where: str, value: Any, direction: int, errors: list[FieldError]
) -> tuple[float, ...] | None:
    if not isinstance(value, list | tuple) or len(value) != BREAKPOINTS:
        errors.append(
            FieldError(
                where, _("must be a list of 6 numbers: where the sub-score reaches 100, 80, 60, 40, 20, 0")
            )
        )
        return None
    for i, v in enumerate(value):
        if not _is_number(v):
            errors.append(FieldError(f"{where}[{i}]", _("must be a finite number")))
            return None
    for i, (a, b) in enumerate(pairwise(value), start=1):
        if (b - a) * direction <= 0:
            relation = "greater" if direction > 0 else "less"
            errors.append(
                FieldError(
                    f"{where}[{i}]",
                    _("must be {relation} than {where}[{value}] ({a:g})").format(
                        relation=relation, where=where, value=i - 1, a=a
                    ),
                )
            )
            return None
    return tuple(float(v) for v in value)


DEFAULT_THRESHOLDS = Thresholds()


def room_score(values: Mapping[str, float], thresholds: Thresholds = DEFAULT_THRESHOLDS) -> RoomScore | None:
    """The room's score: its lowest sub-score, with the metric that drives it. None without scored values."""
    subs: dict[str, SubScore] = {}
    for metric in thresholds.scales:  # the scales' order: ties go to the first (pollutants before comfort)
        value = values.get(metric)
        if value is None:
            continue
        score = thresholds.sub_score(metric, value)
        if score is not None:
            subs[metric] = SubScore(score, level_of_score(score), value)
    if not subs:
        return None
    driver = min(subs, key=lambda m: subs[m].score)
    worst = subs[driver]
    return RoomScore(worst.score, worst.level, driver, subs)


def split_stale(
    latest: Mapping[str, tuple[float, int]], now_ms: int, stale_after_ms: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Split `{metric: (value, ts_ms)}` into the values recent enough to score and, for the others, the time
    of their last value. A stale value is left out of the score (and reported), never silently used."""
    fresh: dict[str, float] = {}
    stale: dict[str, int] = {}
    for metric, (value, ts_ms) in latest.items():
        if now_ms - ts_ms <= stale_after_ms:
            fresh[metric] = value
        else:
            stale[metric] = ts_ms
    return fresh, stale
