"""Modules of a room (ventilation, purifier, window, cooling, heating): what each can do, the state an action
asks for, and the air change rate measured from a CO2 decay. Pure: no I/O, no clock.

A module's state is a small JSON object: `{"on": bool}` for switched devices (with `"level"` 0-3 when
it has levels), `{"open": bool}` for windows, `"setpoint"` in °C for cooling and heating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from app.core.i18n import _

from .readings import FieldError


@dataclass(frozen=True, slots=True)
class ModuleKind:
    """A type of module and the actions it accepts."""

    name: str
    actions: tuple[str, ...]
    label: str
    icon: str  # Material icon for the pages


SWITCH = ("turn_on", "turn_off")
KINDS: dict[str, ModuleKind] = {
    "ventilation": ModuleKind("ventilation", (*SWITCH, "set_level"), "Ventilation", "air"),
    "purifier": ModuleKind("purifier", (*SWITCH, "set_level"), "Air purifier", "filter_alt"),
    "window": ModuleKind("window", ("open", "close"), "Window", "window"),
    "cooling": ModuleKind("cooling", (*SWITCH, "set_setpoint"), "Cooling", "ac_unit"),
    "heating": ModuleKind("heating", (*SWITCH, "set_setpoint"), "Heating", "heat"),
}
# the seed's French names, accepted at the API edge
ALIASES = {
    "purificateur": "purifier",
    "fenetre": "window",
    "fenêtre": "window",
    "clim": "cooling",
    "climatisation": "cooling",
    "radiateur": "heating",
    "chauffage": "heating",
    "vmc": "ventilation",
}
ACTION_ALIASES = {"on": "turn_on", "off": "turn_off", "ouvrir": "open", "fermer": "close"}
MAX_LEVEL = 3
SETPOINT_RANGE_C = (5.0, 35.0)
PRIORITIES = ("low", "normal", "medium", "high", "critical")


def module_kind(name: Any, field: str = "module_type") -> ModuleKind:
    """The kind named `name` (English or the seed's French); a FieldError listing the known ones."""
    if not isinstance(name, str) or not name.strip():
        raise FieldError(field, _("must be one of {sorted}").format(sorted=sorted(KINDS))).as_error()
    key = name.strip().lower()
    kind = KINDS.get(ALIASES.get(key, key))
    if kind is None:
        raise FieldError(
            field, _("unknown module type {name!r}; known: {sorted}").format(name=name, sorted=sorted(KINDS))
        ).as_error()
    return kind


def normalise_action(kind: ModuleKind, action: Any) -> str:
    if not isinstance(action, str) or not action.strip():
        raise FieldError("action_type", _("must be one of {list}").format(list=list(kind.actions))).as_error()
    key = action.strip().lower()
    key = ACTION_ALIASES.get(key, key)
    if key not in kind.actions:
        raise FieldError(
            "action_type",
            _("a {name} module cannot {action!r}; it accepts {list}").format(
                name=kind.name, action=action, list=list(kind.actions)
            ),
        ).as_error()
    return key


def desired_state(kind: ModuleKind, action: str, value: Any = None) -> dict[str, Any]:
    """The state `action` asks of a module of `kind` (the action already normalised)."""
    if action == "turn_on":
        return {"on": True}
    if action == "turn_off":
        return {"on": False}
    if action == "open":
        return {"open": True}
    if action == "close":
        return {"open": False}
    if action == "set_level":
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole:
            raise FieldError(
                "value", _("set_level needs a whole level from 0 to {MAX_LEVEL}").format(MAX_LEVEL=MAX_LEVEL)
            ).as_error()
        if not 0 <= value <= MAX_LEVEL:
            raise FieldError(
                "value", _("level {value} is outside 0-{MAX_LEVEL}").format(value=value, MAX_LEVEL=MAX_LEVEL)
            ).as_error()
        return {"on": value > 0, "level": int(value)}
    if action == "set_setpoint":
        low, high = SETPOINT_RANGE_C
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise FieldError("value", _("set_setpoint needs a temperature in °C")).as_error()
        if not low <= value <= high:
            raise FieldError(
                "value",
                _("setpoint {value} °C is outside {low:g}-{high:g} °C").format(
                    value=value, low=low, high=high
                ),
            ).as_error()
        return {"on": True, "setpoint": float(value)}
    raise FieldError("action_type", _("unknown action {action!r}").format(action=action)).as_error()


def initial_state(kind: ModuleKind) -> dict[str, Any]:
    return {"open": False} if kind.name == "window" else {"on": False}


def satisfies(reported: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    """True when the reported state has every value the command asked for."""
    return reported is not None and all(reported.get(key) == value for key, value in desired.items())


def is_active(state: dict[str, Any] | None) -> bool:
    """On, or open: the module is acting on the room's air."""
    return bool(state) and bool(state.get("on") or state.get("open"))


# the module types that change how much outdoor air reaches the room (purifiers, cooling, heating recirculate)
AIR_EXCHANGE_KINDS = ("ventilation", "window")


def ventilation_level(module_type: str, state: dict[str, Any] | None) -> float | None:
    """How much a module in `state` adds to its room's air exchange, from 0 (off, closed) to 1 (full).

    A ventilation unit that is off gives 0; on, `level / MAX_LEVEL` when it reports a level (1 to 3),
    else 1. A window gives 1 when open, 0 when closed. Modules that do not exchange air with outdoors
    (purifier, cooling, heating) give None: their state says nothing about the CO2 decay. A state that
    does not say (empty or missing) counts as off.
    """
    if module_type not in AIR_EXCHANGE_KINDS:
        return None
    state = state or {}
    if module_type == "window":
        return 1.0 if state.get("open") else 0.0
    if not state.get("on"):
        return 0.0
    level = state.get("level")
    if isinstance(level, int | float) and not isinstance(level, bool) and math.isfinite(level):
        return min(1.0, max(0.0, float(level) / MAX_LEVEL)) if level > 0 else 1.0
    return 1.0


# -- action effectiveness: the tracer-gas decay method (ASTM E741) with CO2 as the tracer -------------------
@dataclass(frozen=True, slots=True)
class AirChangeEstimate:
    ach_per_h: float
    r2: float  # how straight ln(C - C_out) is against time: low means people came or left meanwhile
    samples: int
    duration_s: float


MIN_DECAY_SAMPLES = 5
MIN_EXCESS_PPM = 50.0  # closer to outdoor air, sensor noise dominates the logarithm


def air_change_rate(
    samples: list[tuple[float, float]], outdoor_ppm: float = 420.0
) -> AirChangeEstimate | None:
    """Air changes per hour from CO2 (time s, ppm) samples taken while the room decays towards outdoor air.

    In a well-mixed room without sources, C(t) - C_out = (C0 - C_out) e^(-n t): the least-squares slope of
    ln(C - C_out) against time is -n. Samples within MIN_EXCESS_PPM of outdoor air are left out. None when
    fewer than MIN_DECAY_SAMPLES usable samples remain or the CO2 did not fall.
    """
    points = [(t, math.log(c - outdoor_ppm)) for t, c in samples if c - outdoor_ppm >= MIN_EXCESS_PPM]
    if len(points) < MIN_DECAY_SAMPLES:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((t - mean_t) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    sxy = sum((t - mean_t) * (y - mean_y) for t, y in points)
    slope = sxy / sxx
    if slope >= 0:
        return None
    syy = sum((y - mean_y) ** 2 for _, y in points)
    r2 = (sxy * sxy) / (sxx * syy) if syy > 0 else 1.0
    duration = points[-1][0] - points[0][0]
    return AirChangeEstimate(round(-slope * 3600, 3), round(r2, 4), n, duration)
