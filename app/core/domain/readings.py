"""Validation of incoming readings, in the new format (`/api/ingest`) and the legacy flat one (`/iaq`).

Everything here is pure: the caller resolves the site's time zone and the clock.
Errors name the field (`values.co2`, `[3].timestamp`) and the problem, so a device maker can fix their side.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any

from app.core.i18n import _

from .metrics import ALL_KNOWN, canonical_name, convert

_ID_OK = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
NEW_FORMAT_FIELDS = {"sensor_id", "enseigne", "salle", "timestamp", "values", "units"}
LEGACY_META_FIELDS = {"capteur_id", "sensor_id", "enseigne", "salle", "timestamp"}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
EARLIEST_MS = int(EARLIEST.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    problem: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem}

    def as_error(self) -> InvalidInput:
        return InvalidInput([self])


class InvalidInput(ValueError):
    """One or more fields of a request (readings, configuration) are invalid; each error names its field."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.problem}" for e in errors[:5]))


@dataclass(slots=True)
class ReadingDraft:
    """A reading whose fields are valid. `ts` is seconds since 1970-01-01 UTC when it was sent as a number
    (kept as is: a datetime costs more than the rest of the check), else a datetime that may still be naive
    (then it is in the site's local time)."""

    sensor_id: str
    site: str | None
    room: str | None
    ts: datetime | float | None
    values: dict[str, float] = field(default_factory=dict)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(obj: dict, key: str, errors: list[FieldError], prefix: str, *, required: bool) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            errors.append(FieldError(prefix + key, _("is required")))
        return None
    if not isinstance(value, str):
        errors.append(
            FieldError(prefix + key, _("must be a string, got {name}").format(name=type(value).__name__))
        )
        return None
    clean = _clean_id(value)
    if clean is None:
        errors.append(FieldError(prefix + key, _("must be 1 to 128 printable characters")))
    return clean


@lru_cache(maxsize=16384)  # sensors, sites and rooms repeat in every reading
def _clean_id(value: str) -> str | None:
    value = value.strip()
    return value if _ID_OK.match(value) else None


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 text (with or without zone) or a number of seconds since 1970-01-01 UTC."""
    if _is_number(value):
        if not math.isfinite(value):
            raise ValueError("must be a finite number of seconds since 1970-01-01 UTC")
        if value > 1e11:
            raise ValueError("looks like milliseconds; send seconds since 1970-01-01 UTC or ISO 8601 text")
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):  # far before year 1 (found by fuzzing)
            raise ValueError("is out of range: send seconds since 1970-01-01 UTC") from None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"cannot read {value[:40]!r} as an ISO 8601 date and time") from None
    raise ValueError(f"must be ISO 8601 text or a number, got {type(value).__name__}")


def _values(
    raw: dict[str, Any], units: dict[str, str], errors: list[FieldError], prefix: str, tvoc_factor: float
) -> dict[str, float]:
    # The hot path of ingestion: kept to plain lookups; every rare case is handled below the fast checks.
    out: dict[str, float] = {}
    for key, value in raw.items():
        name = canonical_name(key) if type(key) is str else None
        kind = type(value)
        if name is None or name in out or (kind is not float and kind is not int):
            errors.append(_value_problem(f"{prefix}{key}", name, value, out))
            continue
        value = float(value)
        if units and name in units:
            try:
                value = convert(name, value, units[name], tvoc_ugm3_per_ppb=tvoc_factor)
            except ValueError as exc:
                errors.append(FieldError(f"{prefix}{key}", str(exc)))
                continue
        bounds = _BOUNDS.get(name)
        if bounds is not None:
            if not bounds[0] <= value <= bounds[1]:  # also false for NaN
                errors.append(_range_problem(f"{prefix}{key}", name, value))
                continue
        elif not math.isfinite(value):
            errors.append(
                FieldError(f"{prefix}{key}", _("must be a finite number, got {value}").format(value=value))
            )
            continue
        out[name] = value
    return out


_BOUNDS = {name: (m.low, m.high) for name, m in ALL_KNOWN.items()}


def _value_problem(where: str, name: str | None, value: Any, seen: dict[str, float]) -> FieldError:
    if name is None:
        return FieldError(where, _("is not a valid metric name"))
    if name in seen:
        return FieldError(where, _("repeats metric {name!r}").format(name=name))
    kind = "null" if value is None else type(value).__name__
    return FieldError(where, _("must be a number, got {kind}").format(kind=kind))


def _range_problem(where: str, name: str, value: float) -> FieldError:
    if not math.isfinite(value):
        return FieldError(where, _("must be a finite number, got {value}").format(value=value))
    metric = ALL_KNOWN[name]
    return FieldError(
        where,
        _("{value:g} {unit} is outside the physical range {low:g} to {high:g}").format(
            value=value, unit=metric.unit, low=metric.low, high=metric.high
        ),
    )


def parse_reading(
    obj: Any, *, legacy: bool = False, prefix: str = "", tvoc_ugm3_per_ppb: float = 4.5
) -> ReadingDraft:
    """Validate one reading object and return it in canonical names and units. Raises InvalidInput."""
    draft = parse_plain_reading(obj, legacy)
    if draft is not None:
        return draft
    return _parse_checked(obj, legacy, prefix, tvoc_ugm3_per_ppb)


def parse_plain_reading(obj: Any, legacy: bool = False) -> ReadingDraft | None:
    """The common reading, checked in one pass: known fields only, no units, text ids, a number or ISO text as
    timestamp, metrics as in-range numbers. Returns None for anything else, which `parse_reading` then
    checks in full (and either accepts, giving the same draft, or rejects naming each field)."""
    if type(obj) is not dict:
        return None
    if legacy:
        sensor_id = _legacy_sensor(obj)
        raw = {k: v for k, v in obj.items() if k not in LEGACY_META_FIELDS and v is not None}
    else:
        if not obj.keys() <= NEW_FORMAT_FIELDS or obj.get("units"):
            return None
        sensor_id, raw = obj.get("sensor_id"), obj.get("values")
        if type(raw) is not dict:
            return None
    if type(sensor_id) is not str or (sensor_id := _clean_id(sensor_id)) is None:
        return None
    site, room, ts = obj.get("enseigne"), obj.get("salle"), obj.get("timestamp")
    if site is not None and (type(site) is not str or (site := _clean_id(site)) is None):
        return None
    if room is not None and (type(room) is not str or (room := _clean_id(room)) is None):
        return None
    if ts is not None:
        kind = type(ts)
        try:
            if kind is str:
                ts = datetime.fromisoformat(ts.strip())
            elif (kind is int or kind is float) and 0 <= ts < 1e11:  # NaN fails this too
                ts = float(ts)
            else:
                return None
        except ValueError:
            return None
    values: dict[str, float] = {}
    specs = _KEY_SPECS
    for key, value in raw.items():
        spec = specs.get(key)
        if spec is None and (type(key) is not str or (spec := _key_spec(key)) is None):
            return None
        kind = type(value)
        if kind is int:
            value = float(value)
        elif kind is not float:
            return None
        if not spec[1] <= value <= spec[2]:  # also false for NaN and infinities
            return None
        values[spec[0]] = value
    if not values or len(values) != len(raw):  # two keys for one metric (e.g. CO2 and co2): the full check
        return None
    return ReadingDraft(sensor_id, site, room, ts, values)


_KEY_SPECS: dict[str, tuple[str, float, float]] = {}  # a metric key as sent -> canonical name, range


def _legacy_sensor(obj: dict) -> Any:
    """The sensor of a legacy reading: `capteur_id` (or `sensor_id`), else, as the original product did,
    the room's name followed by 1 (`Bureau1`)."""
    if "capteur_id" in obj:
        return obj["capteur_id"]
    if "sensor_id" in obj:
        return obj["sensor_id"]
    room = obj.get("salle")
    return f"{room.strip()}1" if isinstance(room, str) and room.strip() else None


def _key_spec(key: str) -> tuple[str, float, float] | None:
    name = canonical_name(key)
    if name is None:
        return None
    low, high = _BOUNDS.get(name, (-math.inf, math.inf))  # unknown metrics: any finite number
    if low == -math.inf:
        low, high = -sys.float_info.max, sys.float_info.max
    spec = (name, float(low), float(high))
    if len(_KEY_SPECS) < 4096:  # sensors send the same few keys; a flood of new ones is not kept
        _KEY_SPECS[key] = spec
    return spec


def _parse_checked(obj: Any, legacy: bool, prefix: str, tvoc_ugm3_per_ppb: float) -> ReadingDraft:
    errors: list[FieldError] = []
    if not isinstance(obj, dict):
        raise InvalidInput([FieldError(prefix.rstrip(".") or "body", _("must be a JSON object"))])
    sensor_key = "capteur_id" if legacy and "capteur_id" in obj else "sensor_id"
    if legacy and _legacy_sensor(obj) is not None and sensor_key not in obj:
        obj = {**obj, "capteur_id": _legacy_sensor(obj)}
        sensor_key = "capteur_id"
    sensor_id = _text(obj, sensor_key, errors, prefix, required=True)
    site = _text(obj, "enseigne", errors, prefix, required=False)
    room = _text(obj, "salle", errors, prefix, required=False)
    ts = None
    if obj.get("timestamp") is not None:
        try:
            ts = parse_timestamp(obj["timestamp"])
            if _is_number(obj["timestamp"]):
                ts = float(obj["timestamp"])  # as the common path keeps it (see ReadingDraft)
        except ValueError as exc:
            errors.append(FieldError(prefix + "timestamp", str(exc)))
    units: dict[str, str] = {}
    if legacy:  # the original's devices send a metric they lack as null: it is left out, as it did
        raw_values = {k: v for k, v in obj.items() if k not in LEGACY_META_FIELDS and v is not None}
        values_prefix = prefix
    else:
        unknown = set(obj) - NEW_FORMAT_FIELDS
        for key in sorted(unknown, key=str):
            errors.append(
                FieldError(
                    prefix + str(key),
                    "is not a known field (expected: "
                    + ", ".join(sorted(NEW_FORMAT_FIELDS))
                    + "; metrics go in values)",
                )
            )
        raw_values = obj.get("values")
        values_prefix = prefix + "values."
        if not isinstance(raw_values, dict):
            errors.append(
                FieldError(
                    prefix + "values",
                    "is required and must be an object of metric: number"
                    if raw_values is None
                    else "must be an object of metric: number",
                )
            )
            raw_values = {}
        raw_units = obj.get("units") or {}
        if not isinstance(raw_units, dict) or not all(isinstance(u, str) for u in raw_units.values()):
            errors.append(FieldError(prefix + "units", _("must be an object of metric: unit text")))
        else:
            units = {canonical_name(k) or k: v for k, v in raw_units.items()}
    values = _values(raw_values, units, errors, values_prefix, tvoc_ugm3_per_ppb)
    if not values and not errors:
        errors.append(FieldError(values_prefix.rstrip(".") or "body", _("holds no metric")))
    if errors:
        raise InvalidInput(errors)
    assert sensor_id is not None
    return ReadingDraft(sensor_id, site, room, ts, values)


def check_time(ts_utc: datetime, now: datetime, max_future_s: float, where: str) -> FieldError | None:
    """A reading far in the future or before 2000 comes from a wrong clock: reject it."""
    if (ts_utc - now).total_seconds() > max_future_s:
        return FieldError(
            where,
            _("{isoformat} is more than {max_future_s:g} s in the future (server time {isoformat2})").format(
                isoformat=ts_utc.isoformat(),
                max_future_s=max_future_s,
                isoformat2=now.isoformat(timespec="seconds"),
            ),
        )
    if ts_utc < EARLIEST:
        return FieldError(where, _("{isoformat} is before 2000-01-01").format(isoformat=ts_utc.isoformat()))
    return None


def localise(ts: datetime, zone: tzinfo) -> datetime:
    """Read a naive timestamp in `zone`; return every timestamp in UTC."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=zone)
    return ts.astimezone(UTC)
