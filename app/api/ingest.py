"""`POST /api/ingest` (new format, one reading or a list) and `POST /iaq` (the original flat format).

The work is done by `ingest_request`, reached two ways: through FastAPI's routes (which also give the
OpenAPI contract) and through `IngestEndpoint`, a bare ASGI endpoint that the device lane (app/api/lane.py)
sends these paths to, because FastAPI's per-request machinery costs more than storing the reading.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.core.domain.timesteps import iso_ms
from app.runtime import Runtime
from services.device_keys import Grant
from services.ingestion import IngestOutcome

from .common import Receive, error_answer, parse_json, read_json_bytes
from .device_auth import device_grant
from .schemas import IngestReading, LegacyReading, json_body

log = logging.getLogger(__name__)
LEGACY_PATH = "/iaq"
LEGACY_PATHS = (LEGACY_PATH, "/api/iaq")  # the seed README says /iaq; the original's code served /api/iaq


class IngestAnswer(BaseModel):
    """What a device gets back once its readings are committed (the original's four fields first)."""

    status: Literal["success"]
    message: str = Field(examples=["Mesure enregistrée"])
    sensor_id: str | None = Field(None, description="one reading: its sensor")
    timestamp: str | None = Field(None, description="one reading: its time as stored, UTC ISO 8601")
    outcome: Literal["stored", "duplicate"] = Field(description="duplicate: every reading was stored before")
    received: int
    stored: int = Field(description="readings newly stored")
    duplicates: int = Field(description="readings already stored, kept once")
    duplicate_indices: list[int] | None = Field(None, description="a list: the positions of the duplicates")


def _answer(outcome: IngestOutcome, batch: bool, sensor_id: str | None) -> tuple[int, dict[str, Any]]:
    """The original product's answer (`200 {"status": "success", "message", "sensor_id", "timestamp"}`: device
    firmware tests for exactly that), with IAQverse's counts beside it. A duplicate is a success too: the
    reading is stored, once."""
    fresh = outcome.stored > 0
    body: dict[str, Any] = {
        "status": "success",
        "message": ("Mesure enregistrée" if fresh else "Mesure déjà enregistrée")
        if not batch
        else f"{outcome.stored} mesure(s) enregistrée(s), {len(outcome.duplicates)} déjà enregistrée(s)",
    }
    if not batch:
        body["sensor_id"] = sensor_id
        body["timestamp"] = iso_ms(outcome.first_ts_ms) if outcome.first_ts_ms is not None else None
    body.update(
        outcome="stored" if fresh else "duplicate",
        received=outcome.received,
        stored=outcome.stored,
        duplicates=len(outcome.duplicates),
    )
    if batch:
        body["duplicate_indices"] = outcome.duplicates
    return 200, body


def _loads(raw: bytes) -> Any:
    return parse_json(raw, max_depth=None)  # readings have a fixed shape: no walk over every batch


async def ingest_request(
    runtime: Runtime, raw: bytes, *, legacy: bool, grant: Grant
) -> tuple[int, dict[str, Any]]:
    """Validate and store a request's readings (the body's bytes, said to be JSON); (status, JSON answer).
    Raises the services' errors."""
    source = "legacy" if legacy else "api"
    drafts, batch = runtime.ingestion.parse_encoded(raw, _loads, legacy=legacy, source=source)
    # the key's site is checked where each reading would be stored (services/ingestion.py)
    outcome = await runtime.ingestion.submit(drafts, batch=batch, source=source, site=grant.site)
    return _answer(outcome, batch, drafts[0].sensor_id if drafts else None)


class IngestEndpoint:
    """`ingest_request` as a bare ASGI app, for the device lane."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    async def __call__(self, scope: dict, receive: Receive, send) -> None:
        headers = {k: v for k, v in scope["headers"] if k in (b"content-type", b"content-length")}
        extra: dict[str, str] | None = None
        if scope["method"] != "POST":
            status, body, extra = 405, {"error": "use POST"}, {"Allow": "POST"}
        else:
            try:
                grant = await device_grant(self.runtime, scope)  # device keys (app/api/device_auth.py)
                payload = await read_json_bytes(
                    headers.get(b"content-type", b"").decode("latin-1"),
                    headers.get(b"content-length", b"").decode("latin-1") or None,
                    receive,
                    self.runtime.settings.max_body_bytes,
                )
                status, body = await ingest_request(
                    self.runtime, payload, legacy=scope["path"] in LEGACY_PATHS, grant=grant
                )
            except Exception as exc:
                status, body, extra = error_answer(exc)
                if status == 500:
                    log.error("unhandled error on %s", scope["path"], exc_info=exc)
        data = orjson.dumps(body)
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": data})


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["ingest"])
    max_bytes = runtime.settings.max_body_bytes

    async def _read(request: Request) -> bytes:
        headers = request.headers
        return await read_json_bytes(
            headers.get("content-type", ""), headers.get("content-length"), request.receive, max_bytes
        )

    @r.post(
        "/api/ingest",
        response_model=IngestAnswer,
        openapi_extra=json_body(IngestReading, array_of=IngestReading),
        responses={
            413: {"description": "body or batch too large"},
            415: {"description": "not JSON"},
            422: {"description": "a field is invalid; nothing was stored"},
            503: {"description": "storage unavailable; nothing was stored, retry"},
        },
    )
    async def ingest(request: Request) -> JSONResponse:
        """Store readings. Acknowledged (200) only once committed; a repeated (sensor, timestamp) is
        stored once and answered 200 too. A list holds at most `IAQ_MAX_BATCH` readings (default 5000),
        stored all or nothing."""
        grant = await device_grant(runtime, request.scope)
        status, body = await ingest_request(runtime, await _read(request), legacy=False, grant=grant)
        return JSONResponse(body, status_code=status)

    @r.post(
        LEGACY_PATH,
        response_model=IngestAnswer,
        openapi_extra=json_body(LegacyReading, array_of=LegacyReading),
    )
    async def ingest_legacy(request: Request) -> JSONResponse:
        """The original product's flat format with `capteur_id`; kept for existing devices."""
        grant = await device_grant(runtime, request.scope)
        status, body = await ingest_request(runtime, await _read(request), legacy=True, grant=grant)
        return JSONResponse(body, status_code=status)

    r.add_api_route(  # the same, where the original's code served it (the device lane answers it first)
        "/api/iaq",
        ingest_legacy,
        methods=["POST"],
        response_model=IngestAnswer,
        openapi_extra=json_body(LegacyReading, array_of=LegacyReading),
        summary="Ingest Legacy (the original's path)",
    )
    return r
