"""`/health` (503 when degraded) and `/metrics` (Prometheus text format)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.runtime import Runtime


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["health"])

    @r.get("/health")
    async def health() -> JSONResponse:
        report = await runtime.health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    @r.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        await runtime.health()  # refreshes the worker gauges
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return r
