"""`POST /api/ingest` (new format, one reading or a list) and `POST /iaq` (the original flat format)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.runtime import Runtime
from services.ingestion import IngestOutcome

from .common import read_json
from .schemas import IngestReading, LegacyReading, json_body


def _answer(outcome: IngestOutcome, batch: bool) -> JSONResponse:
    body = {
        "status": "stored" if outcome.stored else "duplicate",
        "received": outcome.received,
        "stored": outcome.stored,
        "duplicates": len(outcome.duplicates),
    }
    if batch:
        body["duplicate_indices"] = outcome.duplicates
    return JSONResponse(body, status_code=201 if outcome.stored else 200)


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["ingest"])
    settings = runtime.settings
    ingestion = runtime.ingestion

    @r.post(
        "/api/ingest",
        status_code=201,
        openapi_extra=json_body(IngestReading, array_of=IngestReading),
        responses={
            200: {"description": "every reading was stored already (duplicates)"},
            413: {"description": "body or batch too large"},
            415: {"description": "not JSON"},
            422: {"description": "a field is invalid; nothing was stored"},
            503: {"description": "storage unavailable; nothing was stored, retry"},
        },
    )
    async def ingest(request: Request) -> JSONResponse:
        """Store readings. Acknowledged (2xx) only once committed; a repeated (sensor, timestamp) is
        stored once.
        A list holds at most `IAQ_MAX_BATCH` readings (default 5000) and is stored all or nothing."""
        body = await read_json(request, settings.max_body_bytes)
        drafts, batch = ingestion.parse(body, source="api")
        return _answer(await ingestion.submit(drafts, batch=batch, source="api"), batch)

    @r.post("/iaq", status_code=201, openapi_extra=json_body(LegacyReading, array_of=LegacyReading))
    async def ingest_legacy(request: Request) -> JSONResponse:
        """The original product's flat format with `capteur_id`; kept for existing devices."""
        body = await read_json(request, settings.max_body_bytes)
        drafts, batch = ingestion.parse(body, legacy=True, source="legacy")
        return _answer(await ingestion.submit(drafts, batch=batch, source="legacy"), batch)

    return r
