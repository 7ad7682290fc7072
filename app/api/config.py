"""`/api/config/...`: sites, rooms, sensors, and import/export of the whole configuration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from app.runtime import Runtime

from .common import HTTPProblem, read_json

MAX_CONFIG_BYTES = 5 * 1024 * 1024
Cascade = Annotated[bool, Query(description="also delete rooms and readings")]


async def _object(request: Request) -> dict[str, Any]:
    body = await read_json(request, MAX_CONFIG_BYTES)
    if not isinstance(body, dict):
        raise HTTPProblem(422, "body: must be a JSON object")
    return body


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/config", tags=["config"])
    config = runtime.config

    @r.get("/sites")
    async def list_sites() -> list[dict[str, Any]]:
        """Sites with their rooms, each room with its sensors and its number of readings."""
        return await config.list_sites(with_counts=True)

    @r.post("/sites", status_code=201)
    async def create_site(request: Request) -> dict[str, Any]:
        """Body: `name`, optional `timezone` (IANA), `address`, `opening_hours`."""
        return await config.create_site(await _object(request))

    @r.get("/sites/{site_id}")
    async def get_site(site_id: int) -> dict[str, Any]:
        return await config.get_site(site_id)

    @r.patch("/sites/{site_id}")
    async def update_site(site_id: int, request: Request) -> dict[str, Any]:
        """Rename, or change the time zone, address or opening hours."""
        return await config.update_site(site_id, await _object(request))

    @r.delete("/sites/{site_id}")
    async def delete_site(site_id: int, cascade: Cascade = False) -> dict[str, Any]:
        """409 while the site has rooms, unless `cascade=true`."""
        return await config.delete_site(site_id, cascade=cascade)

    @r.post("/sites/{site_id}/rooms", status_code=201)
    async def create_room(site_id: int, request: Request) -> dict[str, Any]:
        """Body: `name`, optional `timezone` (else the site's) and `kind`."""
        return await config.create_room(site_id, await _object(request))

    @r.get("/rooms/{room_id}")
    async def get_room(room_id: int) -> dict[str, Any]:
        return await config.get_room(room_id)

    @r.patch("/rooms/{room_id}")
    async def update_room(room_id: int, request: Request) -> dict[str, Any]:
        return await config.update_room(room_id, await _object(request))

    @r.delete("/rooms/{room_id}")
    async def delete_room(room_id: int, cascade: Cascade = False) -> dict[str, Any]:
        """409 while the room has readings, unless `cascade=true`."""
        return await config.delete_room(room_id, cascade=cascade)

    @r.get("/sensors")
    async def list_sensors() -> list[dict[str, Any]]:
        return await config.list_sensors()

    @r.put("/sensors/{sensor_id}")
    async def put_sensor(sensor_id: str, request: Request) -> dict[str, Any]:
        """Register a sensor or assign it: body `{"room_id": 3}` (null unassigns), optional `label`."""
        return await config.upsert_sensor(sensor_id, await _object(request))

    @r.get("/export")
    async def export_config() -> JSONResponse:
        doc = await config.export_config()
        return JSONResponse(
            doc, headers={"Content-Disposition": 'attachment; filename="iaqverse-config.json"'}
        )

    @r.post("/import")
    async def import_config(request: Request) -> dict[str, Any]:
        """Merge a configuration: an IAQverse export, or the original product's `config.json`
        (`lieux.enseignes[].pieces[]`). Matching sites and rooms are updated, new ones created, none
        deleted."""
        return await config.import_config(await _object(request))

    return r
