"""`/api/config/...`: sites, rooms, sensors, and import/export of the whole configuration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from app.api import answers as A
from app.runtime import Runtime

from .common import HTTPProblem, ObjectId, read_json, read_object
from .schemas import (
    ConfigImport,
    GeometryBody,
    RoomBody,
    RoomPatch,
    SensorBody,
    SiteBody,
    SitePatch,
    json_body,
)

MAX_CONFIG_BYTES = 5 * 1024 * 1024
GLB_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("model/gltf-binary", "application/octet-stream")
        },
    }
}
Cascade = Annotated[bool, Query(description="also delete rooms and readings")]


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/config", tags=["config"])
    config = runtime.config
    models = runtime.room_models

    @r.get("/sites", **A.answers(list[A.Site]))
    async def list_sites() -> list[dict[str, Any]]:
        """Sites with their rooms, each room with its sensors and its number of readings."""
        return await config.list_sites(with_counts=True)

    @r.post("/sites", status_code=201, **A.answers(A.Site, 201), openapi_extra=json_body(SiteBody))
    async def create_site(request: Request) -> dict[str, Any]:
        """Body: `name`, optional `timezone` (IANA), `address`, `opening_hours`."""
        return await config.create_site(await read_object(request, MAX_CONFIG_BYTES))

    @r.get("/sites/{site_id}", **A.answers(A.Site))
    async def get_site(site_id: ObjectId) -> dict[str, Any]:
        return await config.get_site(site_id)

    @r.patch("/sites/{site_id}", **A.answers(A.Site), openapi_extra=json_body(SitePatch))
    async def update_site(site_id: ObjectId, request: Request) -> dict[str, Any]:
        """Rename, or change the time zone, address or opening hours."""
        return await config.update_site(site_id, await read_object(request, MAX_CONFIG_BYTES))

    @r.delete("/sites/{site_id}", **A.answers(A.Deleted))
    async def delete_site(site_id: ObjectId, cascade: Cascade = False) -> dict[str, Any]:
        """409 while the site has rooms, unless `cascade=true`. Its rooms' 3D models go with them."""
        return await config.delete_site(site_id, cascade=cascade)

    @r.post(
        "/sites/{site_id}/rooms", status_code=201, **A.answers(A.Room, 201), openapi_extra=json_body(RoomBody)
    )
    async def create_room(site_id: ObjectId, request: Request) -> dict[str, Any]:
        """Body: `name`, optional `timezone` (else the site's) and `kind`."""
        return await config.create_room(site_id, await read_object(request, MAX_CONFIG_BYTES))

    @r.get("/rooms/{room_id}", **A.answers(A.Room))
    async def get_room(room_id: ObjectId) -> dict[str, Any]:
        return await config.get_room(room_id)

    @r.patch("/rooms/{room_id}", **A.answers(A.Room), openapi_extra=json_body(RoomPatch))
    async def update_room(room_id: ObjectId, request: Request) -> dict[str, Any]:
        return await config.update_room(room_id, await read_object(request, MAX_CONFIG_BYTES))

    @r.delete("/rooms/{room_id}", **A.answers(A.Deleted))
    async def delete_room(room_id: ObjectId, cascade: Cascade = False) -> dict[str, Any]:
        """409 while the room has readings, unless `cascade=true`. Its 3D model goes with it."""
        return await config.delete_room(room_id, cascade=cascade)

    @r.get("/rooms/{room_id}/geometry", **A.answers(A.RoomGeometry))
    async def get_room_geometry(room_id: ObjectId) -> dict[str, Any]:
        """The room's footprint, height, floor and sensor positions for the digital twin (null: laid out by
        default)."""
        return await config.get_room_geometry(room_id)

    @r.put("/rooms/{room_id}/geometry", **A.answers(A.RoomGeometry), openapi_extra=json_body(GeometryBody))
    async def put_room_geometry(room_id: ObjectId, request: Request) -> dict[str, Any]:
        """Body: `{"footprint": [[x, y], ...], "height": 3, "floor": 0, "sensors": {"s1": [x, y, z]}}` in
        metres, or `null` to go back to the default layout. 422 names the bad field."""
        return await config.set_room_geometry(room_id, await read_json(request, MAX_CONFIG_BYTES))

    @r.put("/rooms/{room_id}/model", **A.answers(A.RoomModelSaved), openapi_extra=GLB_BODY)
    async def put_room_model(room_id: ObjectId, request: Request) -> dict[str, Any]:
        """Upload the room's 3D model: the body is a binary glTF 2.0 file (`.glb`,
        `Content-Type: model/gltf-binary` or `application/octet-stream`), at most `IAQ_MAX_GLB_BYTES`."""
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in ("model/gltf-binary", "application/octet-stream"):
            raise HTTPProblem(415, f"Content-Type must be model/gltf-binary, got {media or 'nothing'!r}")
        await config.get_room(room_id)  # 404 for an unknown room, before reading the body
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > models.max_bytes:
            raise HTTPProblem(413, f"model of {declared} bytes exceeds the limit of {models.max_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > models.max_bytes:
                raise HTTPProblem(413, f"model exceeds the limit of {models.max_bytes} bytes")
        result = await models.save(room_id, bytes(body))
        runtime.bus.config_changed.emit()
        return result

    @r.get("/rooms/{room_id}/model", responses=A.GLB_ANSWER["responses"])
    async def get_room_model(room_id: ObjectId) -> FileResponse:
        path = models.path(room_id)
        if not path.is_file():
            raise HTTPProblem(404, f"room {room_id} has no 3D model")
        return FileResponse(path, media_type="model/gltf-binary")

    @r.delete("/rooms/{room_id}/model", **A.answers(A.DeletedObject))
    async def delete_room_model(room_id: ObjectId) -> dict[str, Any]:
        if not await models.delete(room_id):
            raise HTTPProblem(404, f"room {room_id} has no 3D model")
        runtime.bus.config_changed.emit()
        return {"deleted": "model", "room_id": room_id}

    @r.get("/sensors", **A.answers(list[A.Sensor]))
    async def list_sensors() -> list[dict[str, Any]]:
        return await config.list_sensors()

    @r.put("/sensors/{sensor_id}", **A.answers(A.Sensor), openapi_extra=json_body(SensorBody))
    async def put_sensor(sensor_id: str, request: Request) -> dict[str, Any]:
        """Register a sensor or assign it: body `{"room_id": 3}` (null unassigns), optional `label`."""
        return await config.upsert_sensor(sensor_id, await read_object(request, MAX_CONFIG_BYTES))

    @r.get("/export", **A.answers(A.ConfigExport))
    async def export_config() -> JSONResponse:
        doc = await config.export_config()
        return JSONResponse(
            doc, headers={"Content-Disposition": 'attachment; filename="iaqverse-config.json"'}
        )

    @r.post("/import", **A.answers(A.ImportReport), openapi_extra=json_body(ConfigImport))
    async def import_config(request: Request) -> dict[str, Any]:
        """Merge a configuration: an IAQverse export, or the original product's `config.json`
        (`lieux.enseignes[].pieces[]`). Matching sites and rooms are updated, new ones created, none
        deleted."""
        return await config.import_config(await read_object(request, MAX_CONFIG_BYTES))

    return r
