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


def json_body(*models: type[BaseModel], array_of: type[BaseModel] | None = None) -> dict[str, Any]:
    """An `openapi_extra` request body for handlers that read the JSON themselves."""
    options = [m.model_json_schema() for m in models]
    if array_of is not None:
        options.append({"type": "array", "items": array_of.model_json_schema(), "minItems": 1})
    schema = options[0] if len(options) == 1 else {"oneOf": options}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
