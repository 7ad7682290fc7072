"""Request shapes for the OpenAPI document (bodies are parsed by the domain's validators, naming fields)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class IngestReading(BaseModel):
    """One reading in the new format. `values` keys: co2, pm25, tvoc, temperature, humidity, or any metric."""

    sensor_id: str = Field(min_length=1, max_length=128, examples=["bureau1"])
    enseigne: str | None = Field(None, max_length=128, description="site; required for a new sensor")
    salle: str | None = Field(None, max_length=128, description="room; required for a new sensor")
    timestamp: str | float | None = Field(
        None, description="ISO 8601 (without zone: the site's local time) or seconds since 1970; default now"
    )
    values: dict[str, float] = Field(
        examples=[{"CO2": 645, "PM25": 12, "TVOC": 200, "Temperature": 22.3, "Humidity": 45}]
    )
    units: dict[str, str] | None = Field(None, description='e.g. {"tvoc": "ppb"}; canonical units otherwise')


class LegacyReading(BaseModel):
    """The original flat format of `POST /iaq`; any other numeric field is stored as a metric."""

    capteur_id: str = Field(min_length=1, max_length=128)
    enseigne: str | None = None
    salle: str | None = None
    timestamp: str | float | None = None
    co2: float | None = None
    pm25: float | None = None
    tvoc: float | None = None
    temperature: float | None = None
    humidity: float | None = None


# schemas that the bodies refer to (nested models), added to the document's components (app/api/openapi.py)
COMPONENTS: dict[str, Any] = {}


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    COMPONENTS.update(schema.pop("$defs", {}))
    return schema


def json_body(*models: type[BaseModel], array_of: type[BaseModel] | None = None) -> dict[str, Any]:
    """An `openapi_extra` request body for handlers that read the JSON themselves."""
    options = [_schema(m) for m in models]
    if array_of is not None:
        options.append({"type": "array", "items": _schema(array_of), "minItems": 1})
    schema = options[0] if len(options) == 1 else {"oneOf": options}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# -- the bodies of the other operations, for the OpenAPI document and the tools that read it (schemathesis,
# generated clients). Handlers read bodies with the services' own validators, which name each field; these
# say what they accept.
class _Body(BaseModel):
    model_config = {"extra": "forbid"}


Days = dict[str, list[list[str]]]  # {"mon": [["08:00", "18:00"]], ...}


class SiteBody(_Body):
    name: str = Field(min_length=1, max_length=128, examples=["Head office"])
    timezone: str | None = Field(
        None, description="IANA zone; default IAQ_DEFAULT_TIMEZONE", examples=["Europe/Paris"]
    )
    address: str | None = Field(None, max_length=256)
    opening_hours: Days | None = Field(
        None, description="per weekday, local [start, end] times; null: always open"
    )


class SitePatch(_Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    timezone: str | None = None
    address: str | None = Field(None, max_length=256)
    opening_hours: Days | None = None


class RoomBody(_Body):
    name: str = Field(min_length=1, max_length=128, examples=["Bureau"])
    timezone: str | None = Field(None, description="IANA zone; default the site's")
    kind: str | None = Field(None, max_length=64, examples=["office"])


class RoomPatch(_Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    timezone: str | None = None
    kind: str | None = Field(None, max_length=64)


class GeometryBody(_Body):
    footprint: list[list[float]] = Field(
        description="[x, y] corners in metres", examples=[[[0, 0], [6, 0], [6, 4], [0, 4]]]
    )
    height: float | None = Field(None, gt=0, le=100)
    floor: int | None = Field(None, ge=-20, le=300)
    sensors: dict[str, list[float]] | None = Field(None, description="sensor id -> [x, y, z] in metres")


class SensorBody(_Body):
    room_id: int | None = Field(None, description="the room; null unassigns")
    label: str | None = Field(None, max_length=128)


class ThresholdsBody(BaseModel):
    """Any part of the thresholds in force (`effective`), e.g. `{"outdoor_co2_ppm": 450}`; `{}` clears."""

    model_config = {"extra": "allow"}
    outdoor_co2_ppm: float | None = Field(None, ge=0, le=2000)


class ConfigImport(BaseModel):
    """An IAQverse export (`sites`) or the original product's `config.json` (`lieux.enseignes[].pieces[]`)."""

    model_config = {"extra": "allow"}
    sites: list[dict[str, Any]] | None = None
    lieux: dict[str, Any] | None = None


class ByBody(_Body):
    comment: str | None = Field(None, max_length=1000)
    by: str | None = Field(None, max_length=128, description="kept as '<signed-in account> for <by>'")


class SnoozeBody(ByBody):
    minutes: int = Field(ge=0, le=7 * 24 * 60, description="how long to put the alert aside; 0 ends a snooze")


class RuleBody(_Body):
    name: str = Field(min_length=1, max_length=128)
    metric: str = Field(description="co2, pm25, pm10, tvoc, temperature, humidity or offline")
    direction: str = Field("above", description="above or below")
    trigger: float
    reset: float | None = Field(None, description="hysteresis: where the alert ends")
    duration_s: float = Field(0, ge=0)
    cooldown_s: float = Field(0, ge=0)
    severity: str = Field("warning", description="info, warning or critical")
    site_id: int | None = None
    room_id: int | None = None
    only_open_hours: bool = False
    enabled: bool = True
    description: str | None = Field(None, max_length=512)


class RulePatch(_Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    metric: str | None = None
    direction: str | None = None
    trigger: float | None = None
    reset: float | None = None
    duration_s: float | None = Field(None, ge=0)
    cooldown_s: float | None = Field(None, ge=0)
    severity: str | None = None
    site_id: int | None = None
    room_id: int | None = None
    only_open_hours: bool | None = None
    enabled: bool | None = None
    description: str | None = Field(None, max_length=512)


class Reason(BaseModel):
    pollutant: str | None = None
    value: float | None = None
    level: str | None = None


class ActionBody(BaseModel):
    """The original product's `execute-action` body."""

    enseigne: str = Field(min_length=1, max_length=128)
    salle: str = Field(min_length=1, max_length=128)
    module_type: str = Field(
        examples=["ventilation"], description="ventilation, purifier, window, cooling, heating"
    )
    action_type: str = Field(
        examples=["turn_on"], description="turn_on, turn_off, set_level, open, close, set_setpoint"
    )
    value: float | None = Field(None, description="a level (set_level) or a setpoint in °C (set_setpoint)")
    priority: str | None = Field(None, examples=["high"])
    reason: Reason | None = None
    module: str | None = Field(None, description="a module's name, when the room has several of the type")
    requested_by: str | None = Field(None, max_length=128)


class ModuleBody(_Body):
    enseigne: str = Field(min_length=1, max_length=128)
    salle: str = Field(min_length=1, max_length=128)
    module_type: str = Field(examples=["ventilation"])
    name: str | None = Field(None, min_length=1, max_length=128)


class AutomationBody(_Body):
    mode: str | None = Field(None, description="off, recommend or auto")
    min_on_s: float | None = Field(None, ge=0)
    cooldown_s: float | None = Field(None, ge=0)
    daily_budget: int | None = Field(None, ge=0)
    manual_hold_s: float | None = Field(None, ge=0)
    co2_on_ppm: float | None = Field(None, ge=0)
    co2_off_ppm: float | None = Field(None, ge=0)
    pm25_on_ugm3: float | None = Field(None, ge=0)
    pm25_off_ugm3: float | None = Field(None, ge=0)


class ModelBody(BaseModel):
    """The original product's `POST /api/models/register`."""

    model_name: str = Field(min_length=1, max_length=256)
    model_version: str = Field(min_length=1, max_length=64)
    model_type: str = Field(min_length=1, max_length=64)
    model_path: str | None = Field(None, max_length=1024)
    checksum: str | None = Field(None, max_length=64)
    metric: str | None = Field(None, max_length=64)
    room_id: int | None = None
    parameters: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    set_active: bool = False


class LoginBody(_Body):
    name: str = Field(max_length=128)
    password: str = Field(max_length=1024)


class TokenBody(_Body):
    name: str = Field("token", min_length=1, max_length=128)
    days: float | None = Field(None, gt=0, le=3650, description="null: no expiry")


class UserBody(_Body):
    name: str = Field(min_length=1, max_length=128)
    role: str = Field(description="viewer, operator or admin")
    password: str | None = Field(None, description="at least 12 characters; none: single sign-on only")
    sites: list[str] | None = Field(None, description="site names; null: every site")


class UserPatch(_Body):
    role: str | None = None
    sites: list[str] | None = None
    disabled: bool | None = None
    password: str | None = None


class KeyBody(_Body):
    site: str = Field(min_length=1, max_length=128)
    name: str = Field("device", min_length=1, max_length=128)
