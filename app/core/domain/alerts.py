"""Alert rules and their evaluation: pure logic, fed with readings in the order of their own timestamps.

A threshold rule watches one metric of one room. Its state machine, per (rule, room):

    idle --value past the trigger--> pending --still past it for `duration_s` of reading time--> raised
    raised --value back past the reset threshold (hysteresis)--> resolved (idle, cooling down)

- Duration is judged on the readings' timestamps, never the wall clock, so replayed or back-filled data
  raise the same alerts as live data. Pending is cancelled by any reading that is not past the trigger.
- Once raised, values between the trigger and the reset threshold keep the alert open: a signal that
  oscillates around the trigger raises one alert, not one per crossing.
- After a resolve, the same rule in the same room raises again only once `cooldown_s` (reading time) has
  passed since the resolve, and only after a full new duration past the trigger.
- A rule limited to opening hours ignores readings taken while the site is closed (local time of the site):
  they neither start nor continue a pending period. An alert already raised still resolves on its reset.

An offline rule watches sensors, not values: a sensor silent for longer than its expected interval times
the rule's factor (`trigger`) is offline until it reports again (`offline_since`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from app.core.i18n import N_, _

from .readings import FieldError, InvalidInput
from .validation import WEEKDAYS

SEVERITIES = ("info", "warning", "critical")
DIRECTIONS = ("above", "below")
OFFLINE = "offline"  # the pseudo-metric of sensor-silence rules
RULE_METRICS = ("co2", "pm25", "pm10", "tvoc", "temperature", "humidity", OFFLINE)
MAX_DURATION_S = 7 * 86400
ALERT_STATES = ("active", "acknowledged", "resolved")


@dataclass(frozen=True, slots=True)
class Rule:
    """An alert rule. Scope: global (no site, no room), a site (`site_id`) or a room (`room_id`)."""

    id: int
    name: str
    metric: str
    direction: str  # "above" or "below"; offline rules: "above" (silence above factor × interval)
    trigger: float  # offline rules: the factor applied to the sensor's expected interval
    reset: float  # offline rules: unused (a sensor is back when it reports)
    duration_s: float = 0.0
    cooldown_s: float = 0.0
    severity: str = "warning"
    site_id: int | None = None
    room_id: int | None = None
    only_open_hours: bool = False
    enabled: bool = True

    @property
    def scope(self) -> str:
        return "room" if self.room_id is not None else "site" if self.site_id is not None else "global"

    @property
    def is_offline(self) -> bool:
        return self.metric == OFFLINE

    def breached(self, value: float) -> bool:
        return value > self.trigger if self.direction == "above" else value < self.trigger

    def cleared(self, value: float) -> bool:
        return value < self.reset if self.direction == "above" else value > self.reset

    def applies_to(self, room_id: int, site_id: int | None) -> bool:
        if self.room_id is not None:
            return self.room_id == room_id
        if self.site_id is not None:
            return self.site_id == site_id
        return True


_RANK = {"room": 0, "site": 1, "global": 2}


def _kind(rule: Rule) -> tuple[str, str, str]:
    return (rule.metric, rule.direction, rule.severity)


def rules_for_room(rules: list[Rule], room_id: int, site_id: int | None) -> list[Rule]:
    """The enabled rules in force for a room. Only a more specific rule (room over site over global) with the
    same metric, direction and severity replaces a broader one, so a room can have its own CO2 threshold;
    rules of the same scope all apply, each on its own (a second global CO2 rule is not ignored)."""
    applicable = [r for r in rules if r.enabled and r.applies_to(room_id, site_id)]
    narrowest: dict[tuple[str, str, str], int] = {}
    for rule in applicable:
        narrowest[_kind(rule)] = min(narrowest.get(_kind(rule), 9), _RANK[rule.scope])
    chosen = [r for r in applicable if _RANK[r.scope] == narrowest[_kind(r)]]
    return sorted(chosen, key=lambda r: (_RANK[r.scope], r.id))


def replaced_rules(rule: Rule, rules: list[Rule], site_of_room: Mapping[int, int]) -> list[Rule]:
    """The enabled broader rules that `rule` replaces where it applies (same metric, direction and severity,
    a scope that holds `rule`'s): what the rule list says next to a room's or a site's own rule."""
    if not rule.enabled or rule.scope == "global":
        return []
    site_id = rule.site_id if rule.scope == "site" else site_of_room.get(rule.room_id)  # type: ignore[arg-type]
    return [
        other
        for other in rules
        if other.enabled
        and _kind(other) == _kind(rule)
        and _RANK[other.scope] > _RANK[rule.scope]
        and (other.scope == "global" or other.site_id == site_id)
    ]


# -- the rules a fresh install starts with ------------------------------------------------------------------
# Derived from the IAQ score's references (app/core/domain/score.py, docs/score.md); CO2 in absolute ppm at
# the default outdoor level of 420 ppm. Warning where the score leaves its "good" range for CO2 (EN 16798-1
# category II ends) and its "moderate" range for the others; critical where it reaches "bad".
_CO2_CAT_II_PPM = 420 + 800  # EN 16798-1 category II/III boundary: 800 ppm above outdoor
_CO2_UBA_PPM = 2000  # UBA 2008: above 2000 ppm hygienically unacceptable
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"name": N_("CO₂ high"), "metric": "co2", "direction": "above", "trigger": _CO2_CAT_II_PPM,
     "reset": _CO2_CAT_II_PPM - 100, "duration_s": 300, "cooldown_s": 900, "severity": "warning",
     "description": N_("EN 16798-1:2019 Annex B: above category II (800 ppm above an outdoor 420 ppm)")},
    {"name": N_("CO₂ very high"), "metric": "co2", "direction": "above", "trigger": _CO2_UBA_PPM,
     "reset": _CO2_UBA_PPM - 200, "duration_s": 300, "cooldown_s": 900, "severity": "critical",
     "description": N_("UBA 2008: above 2000 ppm hygienically unacceptable")},
    {"name": N_("PM2.5 high"), "metric": "pm25", "direction": "above", "trigger": 35.4, "reset": 25.0,
     "duration_s": 600, "cooldown_s": 900, "severity": "warning",
     "description": N_("US EPA AQI 2024: above 35.4 µg/m³ unhealthy for sensitive groups")},
    {"name": N_("PM2.5 very high"), "metric": "pm25", "direction": "above", "trigger": 55.4, "reset": 45.0,
     "duration_s": 600, "cooldown_s": 900, "severity": "critical",
     "description": N_("US EPA AQI 2024: above 55.4 µg/m³ unhealthy")},
    {"name": N_("TVOC high"), "metric": "tvoc", "direction": "above", "trigger": 3000.0, "reset": 2500.0,
     "duration_s": 600, "cooldown_s": 900, "severity": "warning",
     "description": N_("UBA 2007 TVOC level 4: above 3 mg/m³ of concern")},
    {"name": N_("TVOC very high"), "metric": "tvoc", "direction": "above", "trigger": 10000.0,
     "reset": 8000.0, "duration_s": 600, "cooldown_s": 900, "severity": "critical",
     "description": N_("UBA 2007 TVOC level 5: above 10 mg/m³ unacceptable")},
    {"name": N_("Too warm"), "metric": "temperature", "direction": "above", "trigger": 28.0, "reset": 27.0,
     "duration_s": 900, "cooldown_s": 1800, "severity": "warning",
     "description": N_("Above EN 16798-1 category III (27 °C) by one degree: the score's poor level")},
    {"name": N_("Too cold"), "metric": "temperature", "direction": "below", "trigger": 18.0, "reset": 19.0,
     "duration_s": 900, "cooldown_s": 1800, "severity": "warning",
     "description": N_("WHO Housing and Health Guidelines 2018: at least 18 °C indoors")},
    {"name": N_("Too humid"), "metric": "humidity", "direction": "above", "trigger": 80.0, "reset": 75.0,
     "duration_s": 900, "cooldown_s": 1800, "severity": "warning",
     "description": N_("Beyond EN 16798-1 category III (70 %): the score's poor level")},
    {"name": N_("Too dry"), "metric": "humidity", "direction": "below", "trigger": 15.0, "reset": 20.0,
     "duration_s": 900, "cooldown_s": 1800, "severity": "warning",
     "description": N_("Beyond EN 16798-1 category III (20 %): the score's poor level")},
    {"name": N_("Sensor offline"), "metric": OFFLINE, "direction": "above", "trigger": 3.0, "reset": 3.0,
     "duration_s": 0, "cooldown_s": 0, "severity": "warning",
     "description": N_("Silent for more than 3 times its usual interval between readings")},
)  # fmt: skip


# -- validation -----------------------------------------------------------------------------------------
def _number(data: Mapping[str, Any], key: str, errors: list[FieldError], *, default: Any = None) -> Any:
    value = data.get(key, default)
    if value is None:
        errors.append(FieldError(key, _("is required (a number)")))
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        errors.append(FieldError(key, _("must be a finite number")))
        return None
    return float(value)


_RULE_FIELDS = {
    "name", "metric", "direction", "trigger", "reset", "duration_s", "cooldown_s", "severity",
    "site_id", "room_id", "only_open_hours", "enabled", "description",
}  # fmt: skip


def check_rule(data: Any, *, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A rule's fields, checked; `base` holds the current fields when `data` changes only some of them.

    Raises InvalidInput naming every invalid field, e.g. `reset: must be below the trigger (1220) for an
    'above' rule, so that the alert does not flap`.
    """
    if not isinstance(data, Mapping):
        raise FieldError("body", _("must be a JSON object")).as_error()
    errors = [
        FieldError(
            str(k),
            _("is not a rule field (known: {choices})").format(choices=", ".join(sorted(_RULE_FIELDS))),
        )
        for k in data
        if k not in _RULE_FIELDS
    ]
    merged = {**(base or {}), **data}
    out = _check_kind(merged, errors)
    out["trigger"], out["reset"] = _check_thresholds(merged, out["metric"], out["direction"], errors)
    for key in ("duration_s", "cooldown_s"):
        value = _number(merged, key, errors, default=0)
        if value is not None and value < 0:
            errors.append(FieldError(key, _("must not be negative (seconds)")))
        elif value is not None and value > MAX_DURATION_S:
            errors.append(
                FieldError(
                    key,
                    _("must be at most {MAX_DURATION_S} seconds (7 days)").format(
                        MAX_DURATION_S=MAX_DURATION_S
                    ),
                )
            )
        out[key] = value
    for key in ("site_id", "room_id"):
        value = merged.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            errors.append(FieldError(key, _("must be an id (integer) or null")))
        out[key] = value
    for key in ("only_open_hours", "enabled"):
        value = merged.get(key, key == "enabled")
        if not isinstance(value, bool):
            errors.append(FieldError(key, _("must be true or false")))
        out[key] = value
    if errors:
        raise InvalidInput(errors)
    return out


def _check_kind(merged: Mapping[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    """Name, description, metric, direction and severity of a rule."""
    out: dict[str, Any] = {}
    name = merged.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 128:
        errors.append(FieldError("name", _("must be 1 to 128 characters")))
    else:
        out["name"] = name.strip()
    description = merged.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 512):
        errors.append(FieldError("description", _("must be text of at most 512 characters")))
    out["description"] = description or None
    metric = merged.get("metric")
    if metric not in RULE_METRICS:
        errors.append(
            FieldError("metric", _("must be one of {choices}").format(choices=", ".join(RULE_METRICS)))
        )
    out["metric"] = metric
    direction = merged.get("direction", "above")
    if direction not in DIRECTIONS:
        errors.append(FieldError("direction", _("must be 'above' or 'below'")))
    elif metric == OFFLINE and direction != "above":
        errors.append(
            FieldError("direction", _("must be 'above' for an offline rule (silence above a limit)"))
        )
    out["direction"] = direction
    severity = merged.get("severity", "warning")
    if severity not in SEVERITIES:
        errors.append(
            FieldError("severity", _("must be one of {choices}").format(choices=", ".join(SEVERITIES)))
        )
    out["severity"] = severity
    return out


def _check_thresholds(
    merged: Mapping[str, Any], metric: Any, direction: Any, errors: list[FieldError]
) -> tuple[float | None, float | None]:
    """Trigger and reset: the reset on the side where the alert resolves (or it would flap or never end);
    for an offline rule, the trigger is a factor on the sensor's expected interval."""
    trigger = _number(merged, "trigger", errors)
    if metric == OFFLINE:
        if trigger is not None and not 1 <= trigger <= 1000:
            errors.append(
                FieldError(
                    "trigger", _("is the factor on the sensor's expected interval: between 1 and 1000")
                )
            )
        return trigger, _number(merged, "reset", errors, default=trigger if trigger is not None else 0)
    reset = _number(merged, "reset", errors)
    if trigger is None or reset is None or direction not in DIRECTIONS:
        return trigger, reset
    if direction == "above" and reset > trigger:
        errors.append(
            FieldError(
                "reset",
                _(
                    "must not be above the trigger ({trigger:g}) for an 'above' rule: the alert "
                    "resolves when the value falls below it"
                ).format(trigger=trigger),
            )
        )
    if direction == "below" and reset < trigger:
        errors.append(
            FieldError(
                "reset",
                _(
                    "must not be below the trigger ({trigger:g}) for a 'below' rule: the alert resolves "
                    "when the value rises above it"
                ).format(trigger=trigger),
            )
        )
    return trigger, reset


# -- opening hours -----------------------------------------------------------------------------------------
def is_open(opening_hours: Mapping[str, list] | None, ts_utc: datetime, zone: tzinfo) -> bool:
    """Whether a site is open at `ts_utc` (aware), judged in the site's local time `zone`.

    `opening_hours` is `{"mon": [["08:00", "18:00"]], ...}` (validated by `check_opening_hours`); None means
    always open, a day left out is closed. An interval includes its start and excludes its end.
    """
    if opening_hours is None:
        return True
    local = ts_utc.astimezone(zone)
    minute = local.hour * 60 + local.minute + local.second / 60
    for start, end in opening_hours.get(WEEKDAYS[local.weekday()], []):
        if _minutes(start) <= minute < _minutes(end):
            return True
    return False


def is_open_ms(opening_hours: Mapping[str, list] | None, ts_ms: int, zone: tzinfo) -> bool:
    return opening_hours is None or is_open(opening_hours, datetime.fromtimestamp(ts_ms / 1000, UTC), zone)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


# -- the state machine ------------------------------------------------------------------------------------
@dataclass(slots=True)
class RuleState:
    """What one rule knows of one room (all times are reading times, ms since the epoch)."""

    pending_since_ms: int | None = None  # first reading of the current run past the trigger
    active: bool = False  # an alert is raised (active or acknowledged) and not resolved
    resolved_ms: int | None = None  # when the last alert resolved: the cooldown runs from here
    last_ms: int | None = None  # newest reading seen; older ones are ignored
    peak: float | None = None  # the worst value since the run past the trigger began


@dataclass(frozen=True, slots=True)
class Transition:
    kind: Literal["raised", "resolved"]
    ts_ms: int
    value: float
    peak: float | None = None


def step(
    rule: Rule, state: RuleState, ts_ms: int, value: float, *, open_now: bool = True
) -> Transition | None:
    """Feed one reading to a rule's state; returns what changed (raised, resolved) or None.

    Readings must come in time order; one not newer than the last seen is ignored (a late reading must not
    reopen or resolve what newer ones decided). `open_now` says whether the site is open at `ts_ms` (only
    read when the rule is limited to opening hours).
    """
    if state.last_ms is not None and ts_ms <= state.last_ms:
        return None
    state.last_ms = ts_ms
    if state.active:
        if state.peak is None or (value > state.peak if rule.direction == "above" else value < state.peak):
            state.peak = value
        if rule.cleared(value):
            state.active, state.resolved_ms, state.pending_since_ms = False, ts_ms, None
            return Transition("resolved", ts_ms, value, state.peak)
        return None
    if not rule.breached(value) or (rule.only_open_hours and not open_now):
        state.pending_since_ms = None
        return None
    if state.pending_since_ms is None:
        state.pending_since_ms, state.peak = ts_ms, value
    elif value > state.peak if rule.direction == "above" else value < state.peak:  # type: ignore[operator]
        state.peak = value
    long_enough = ts_ms - state.pending_since_ms >= rule.duration_s * 1000
    cooled = state.resolved_ms is None or ts_ms - state.resolved_ms >= rule.cooldown_s * 1000
    if long_enough and cooled:
        state.active, state.pending_since_ms = True, None
        return Transition("raised", ts_ms, value, state.peak)
    return None


def resolve_manually(state: RuleState, ts_ms: int) -> None:
    """An operator resolved the alert: the rule starts over (cooldown from now, a new full duration)."""
    state.active, state.pending_since_ms, state.peak = False, None, None
    state.resolved_ms = ts_ms


# -- sensors going silent -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Cadence:
    """A sensor's reporting rhythm: the median of its last gaps between readings (reading time)."""

    last_ms: int | None = None
    gaps_ms: list[int] = field(default_factory=list)
    keep: int = 15

    def add(self, ts_ms: int) -> None:
        if self.last_ms is not None:
            if ts_ms <= self.last_ms:
                return
            self.gaps_ms.append(ts_ms - self.last_ms)
            if len(self.gaps_ms) > self.keep:
                del self.gaps_ms[0]
        self.last_ms = ts_ms

    def expected_ms(self, fallback_ms: int, *, min_gaps: int = 3) -> int:
        """The median gap once `min_gaps` are known, else `fallback_ms` (a setting)."""
        if len(self.gaps_ms) < min_gaps:
            return fallback_ms
        ordered = sorted(self.gaps_ms)
        return max(1000, ordered[len(ordered) // 2])


def offline_since(last_ms: int | None, expected_ms: int, factor: float, now_ms: int) -> int | None:
    """When a sensor counts as offline (its last reading + factor × expected interval), if that is past at
    `now_ms`; None while it is not overdue or has never reported."""
    if last_ms is None:
        return None
    due = last_ms + int(expected_ms * factor)
    return due if now_ms > due else None
