"""What the operations answer, for the OpenAPI document and the clients generated from it. The handlers
return the services' JSON unchanged (`response_model=None`): these models describe it, and
`tests/api/test_answers_documented.py` checks real answers against them.

Times are ISO 8601 texts in UTC (`Z`) unless a field says otherwise; `enseigne` and `salle` are the original
contract's names of a site and a room."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

Json = dict[str, Any]


def answers(model: Any, status: int = 200, description: str = "Success") -> dict[str, Any]:
    """The route options that document `model` as the answer (the handler's JSON is sent as it is)."""
    return {"response_model": None, "responses": {status: {"model": model, "description": description}}}


# -- configuration ------------------------------------------------------------------------------------------
class Room(BaseModel):
    id: int
    site_id: int
    name: str
    timezone: str | None = Field(description="the room's own zone; null: the site's")
    effective_timezone: str
    kind: str | None
    external_id: str | None
    sensors: list[str]
    geometry: Json | None
    readings: int | None = Field(None, description="stored readings (in site lists)")
    site: str | None = Field(None, description="the site's name (single room)")


class Site(BaseModel):
    id: int
    name: str
    timezone: str
    address: str | None
    opening_hours: dict[str, list[list[str]]] | None = Field(description="local times; null: always open")
    external_id: str | None
    rooms: list[Room]


class Deleted(BaseModel):
    deleted: str = Field(description="what was deleted: site or room")
    name: str
    rooms: int | None = None
    readings: int


class RoomGeometry(BaseModel):
    room_id: int
    geometry: Json | None


class Sensor(BaseModel):
    sensor_id: str
    label: str | None
    room_id: int | None
    salle: str | None
    enseigne: str | None


class ConfigExport(BaseModel):
    format: str
    version: int
    exported_at: str
    sites: list[Json]
    unassigned_sensors: list[Json]


class ImportReport(BaseModel):
    sites_created: int
    sites_updated: int
    rooms_created: int
    rooms_updated: int
    sensors_assigned: int
    modules_ignored: int


class SiteThresholds(BaseModel):
    site_id: int
    name: str
    override: Json | None
    effective: Json


class RoomThresholds(BaseModel):
    room_id: int
    name: str
    site: str
    site_override: Json | None
    override: Json | None
    effective: Json


# -- scores -------------------------------------------------------------------------------------------------
class Score(BaseModel):
    enseigne: str
    salle: str
    score: float | None
    level: str
    driver: str | None
    sub_scores: dict[str, Json]
    timestamp: str | None
    stale: bool
    stale_metrics: Json
    message: str | None
    references: dict[str, str]


class ScorePoint(BaseModel):
    timestamp: str
    score: float | None
    level: str
    driver: str | None


class ScoreHistory(BaseModel):
    enseigne: str
    salle: str
    start: str
    count: int
    data: list[ScorePoint]


# -- alerts -------------------------------------------------------------------------------------------------
class Alert(BaseModel):
    id: int
    rule_id: int | None
    rule: str
    metric: str
    direction: str
    severity: str
    state: str = Field(description="active, acknowledged or resolved")
    enseigne: str
    salle: str
    room_id: int
    sensor_id: str | None
    threshold: float | None
    reset: float | None
    value: float | None
    peak: float | None
    raised_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    ack_comment: str | None
    resolved_at: str | None
    resolved_by: str | None
    resolved_value: float | None
    updated_at: str
    snoozed_until: str | None
    timezone: str | None = Field(description="the room's zone, for showing times in the building's clock")
    history: list[Json] | None = Field(None, description="single alert: its events")
    notifications: list[Json] | None = Field(None, description="single alert: delivery attempts")


class AlertRule(BaseModel):
    id: int
    name: str
    description: str | None
    metric: str
    direction: str
    trigger: float
    reset: float
    duration_s: float
    cooldown_s: float
    severity: str
    site_id: int | None
    room_id: int | None
    only_open_hours: bool
    enabled: bool
    scope: str = Field(description="global, site or room")
    updated_at: str


# -- health -------------------------------------------------------------------------------------------------
class Health(BaseModel):
    status: str = Field(description="ok or degraded (ready or not ready for /health/ready)")
    checks: dict[str, Json] | None = Field(
        None, description="each part's status; not told to anonymous callers"
    )


# -- modules and actions ------------------------------------------------------------------------------------
class Module(BaseModel):
    id: int
    enseigne: str
    salle: str
    room_id: int
    module_type: str
    name: str
    topic: str
    state: Json
    state_changed_at: str | None
    state_changed_by: str | None
    available: bool
    actions: list[str]
    pending: Json | None


class RoomModules(BaseModel):
    enseigne: str
    salle: str
    modules: list[Module]


class ModuleStates(BaseModel):
    states: dict[str, dict[str, dict[str, Json]]] = Field(description="site -> room -> module -> state")


class StateChange(BaseModel):
    at: str
    ts_ms: int
    state: Json
    ventilation: float | None = Field(None, description="ventilation modules: the level as a number, 0 off")


class Action(BaseModel):
    id: int
    module_id: int
    action_type: str
    desired: Json
    requested_by: str
    source: str
    priority: str
    reason: Json | None
    status: str
    requested_at: str
    completed_at: str | None
    error: str | None
    ach_per_h: float | None
    ach_r2: float | None
    enseigne: str
    salle: str
    room_id: int
    module_type: str
    module: str


class Automation(BaseModel):
    enseigne: str
    salle: str
    mode: str = Field(description="off, recommend or auto")
    min_on_s: float
    cooldown_s: float
    daily_budget: int = Field(description="switch-ons a day at most")
    manual_hold_s: float = Field(description="automation leaves a module alone this long after a person")
    co2_on_ppm: float
    co2_off_ppm: float
    pm25_on_ugm3: float
    pm25_off_ugm3: float


class AirChangeRate(BaseModel):
    enseigne: str
    salle: str
    room_id: int
    ach_per_h: float
    r2: float


# -- models and forecasts -----------------------------------------------------------------------------------
class MlModel(BaseModel):
    id: int
    model_name: str
    model_version: str
    model_type: str
    model_path: str | None
    checksum: str | None
    metric: str | None
    room_id: int | None
    parameters: Json
    metrics: Json
    training_start: str | None
    training_end: str | None
    status: str = Field(description="candidate, active or retired")
    activated_by: str | None
    activated_at: str | None
    created_at: str | None


class TrainingRun(BaseModel):
    id: int
    model_name: str
    trigger: str
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    data_points: int | None
    outcome: str = Field(description="running, promoted, kept or failed")
    error: str | None
    model_id: int | None
    metrics: Json


class Forecast(BaseModel):
    horizon_min: int
    issued_at: str
    timestamp: str
    target_ms: int
    value: float
    low: float | None
    high: float | None
    model_type: str | None
    model_id: int | None
    if_ventilated: float | None = Field(None, description="the level expected if the fan is switched on now")


class Forecasts(BaseModel):
    enseigne: str
    salle: str
    metric: str
    forecasts: list[Forecast]


class PreventiveAction(BaseModel):
    type: str
    enseigne: str | None
    salle: str | None
    room_id: int | None
    metric: str
    threshold: float
    current: float | None
    expected_at: str
    within_min: int


# -- accounts -----------------------------------------------------------------------------------------------
class Me(BaseModel):
    name: str
    role: str
    sites: list[str] | None
    via: str = Field(description="session, token or device")


class Token(BaseModel):
    id: int
    name: str
    prefix: str
    user_id: int
    user: str
    created_at: str
    expires_at: str | None
    revoked: bool
    token: str | None = Field(None, description="the secret, once, when the token is made")


class User(BaseModel):
    id: int
    name: str
    role: str
    sites: list[str] | None
    sso: bool
    local_password: bool
    disabled: bool
    created_at: str


class DeviceKey(BaseModel):
    id: int
    site: str
    name: str
    prefix: str
    created_at: str
    revoked: bool
    key: str | None = Field(None, description="the secret, once, when the key is made")


def contract_json(result: Any, **extra: Any) -> Json:
    """A service's typed result (a dataclass: `KeyInfo`, `TokenInfo`, `UserInfo`, `AuditEntry`) as the
    contract's JSON: the same field names, times as ISO 8601 texts, tuples as lists; `extra` adds fields such
    as a secret shown once."""
    out: Json = {}
    for name, value in dataclasses.asdict(result).items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return {**out, **extra}


class AuditEvent(BaseModel):
    at: str
    actor: str
    action: str
    target: str | None
    detail: Json | None
    address: str | None


# -- small answers of changes --------------------------------------------------------------------------------
class Executed(BaseModel):
    status: str = Field(description="pending until every device reports its new state, else done")
    actions: list[Action]


class PreventiveActions(BaseModel):
    enseigne: str
    salle: str
    actions: list[Json]


class DeletedObject(BaseModel):
    deleted: str = Field(description="what was deleted: module, alert rule, model")
    id: int | None = None
    room_id: int | None = None
    name: str | None = None
    resolved: int | None = Field(None, description="alert rule: its open alerts it resolved")


class DeletedUser(BaseModel):
    deleted: int


class Revoked(BaseModel):
    revoked: int


class SignedOut(BaseModel):
    signed_out: bool


class RoomModelSaved(BaseModel):
    room_id: int
    bytes: int
    url: str


class Co2Category(BaseModel):
    category: str = Field(description="EN 16798-1 category: I, II, III, IV")
    above_outdoor_ppm: float | None
    limit_ppm: float | None = Field(description="null: above category III")
    hours: float
    share_pct: float | None


class Co2Compliance(BaseModel):
    covered_hours: float
    categories: list[Co2Category]


class Pm25Compliance(BaseModel):
    covered_hours: float
    guideline_ugm3: float
    above_hours: float
    above_share_pct: float | None


class Compliance(BaseModel):
    enseigne: str
    salle: str
    timezone: str
    start: str = Field(description="first local day")
    end: str = Field(description="last local day, included")
    opening_hours: dict[str, list[list[str]]] | None
    outdoor_co2_ppm: float
    co2: Co2Compliance
    pm25: Pm25Compliance
    references: dict[str, str] = Field(description="the standards the limits come from")


def compliance_answers() -> dict[str, Any]:
    """The report as JSON (`format=json`) or as CSV (`format=csv`)."""
    return {
        "response_model": None,
        "responses": {
            200: {
                "model": Compliance,
                "description": "The report",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
    }


GLB = {"schema": {"type": "string", "format": "binary"}}
GLB_ANSWER: dict[str, Any] = {
    "responses": {200: {"description": "The room's 3D model", "content": {"model/gltf-binary": GLB}}},
}
