"""The original product's read-only configuration endpoints, for its clients: `GET /config` (its
`config.json` shape: `lieux.enseignes[].pieces[]`), `GET /api/locations`, `GET /api/sensors-config` and
`GET /api/ingest/stats`. They are views of the registry, limited to the account's sites; the registry is
changed through `/api/config/...` (`POST /api/config/import` also takes the original's `config.json`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.runtime import Runtime
from services.scope import may_see

from .common import ReachDep


class Piece(BaseModel):
    id: str = Field(description="the room's external id, or `room-<id>`")
    nom: str
    type: str | None = None
    capteurs: list[str]
    glbModel: str | None = Field(None, description="the room's 3D model URL, when it has one")


class Enseigne(BaseModel):
    id: str = Field(description="the site's external id, or `site-<id>`")
    nom: str
    adresse: str | None = None
    timezone: str
    pieces: list[Piece]


class Lieux(BaseModel):
    enseignes: list[Enseigne]


class OriginalConfig(BaseModel):
    lieux: Lieux


class SensorOfConfig(BaseModel):
    enseigne: str
    salle: str
    capteur_id: str
    piece_id: str


class SensorsConfig(BaseModel):
    sensors: list[SensorOfConfig]


class IngestStats(BaseModel):
    influxdb_enabled: bool
    websocket_enabled: bool


def original_config(sites: list[dict[str, Any]], model_url) -> dict[str, Any]:
    """The registry's sites in the original's `config.json` shape."""
    return {
        "lieux": {
            "enseignes": [
                {
                    "id": site["external_id"] or f"site-{site['id']}",
                    "nom": site["name"],
                    "adresse": site["address"],
                    "timezone": site["timezone"],
                    "pieces": [
                        {
                            "id": room["external_id"] or f"room-{room['id']}",
                            "nom": room["name"],
                            "type": room["kind"],
                            "capteurs": room["sensors"],
                            "glbModel": model_url(room["id"]),
                        }
                        for room in site["rooms"]
                    ],
                }
                for site in sites
            ]
        }
    }


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["original product"])

    async def visible_config(reach: ReachDep) -> dict[str, Any]:
        sites = [s for s in await runtime.config.list_sites() if may_see(reach.sites, s["name"])]
        return original_config(sites, runtime.room_models.url)

    @r.get("/config", response_model=OriginalConfig)
    async def config(reach: ReachDep) -> dict[str, Any]:
        """The sites and rooms as the original's `config.json` (`lieux.enseignes[].pieces[]`)."""
        return await visible_config(reach)

    @r.get("/api/locations", response_model=dict[str, list[str]])
    async def locations(reach: ReachDep) -> dict[str, list[str]]:
        """Each site's rooms that have a sensor: `{"Maison": ["Bureau", "Salon"]}`."""
        enseignes = (await visible_config(reach))["lieux"]["enseignes"]
        found = {e["nom"]: [p["nom"] for p in e["pieces"] if p["capteurs"]] for e in enseignes}
        return {site: rooms for site, rooms in found.items() if rooms}

    @r.get("/api/sensors-config", response_model=SensorsConfig)
    async def sensors_config(reach: ReachDep) -> dict[str, Any]:
        """Every sensor with its site and room."""
        enseignes = (await visible_config(reach))["lieux"]["enseignes"]
        return {
            "sensors": [
                {"enseigne": e["nom"], "salle": p["nom"], "capteur_id": c, "piece_id": p["id"]}
                for e in enseignes
                for p in e["pieces"]
                for c in p["capteurs"]
            ]
        }

    @r.get("/api/ingest/stats", response_model=IngestStats)
    async def ingest_stats() -> dict[str, bool]:
        settings = runtime.settings
        return {"influxdb_enabled": settings.use_influxdb, "websocket_enabled": settings.websocket_enabled}

    return r
