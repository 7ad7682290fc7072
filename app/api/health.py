"""`/health` (503 when degraded) and `/metrics` (Prometheus text format).

`/health` is open to load balancers and probes, but tells an anonymous caller only ok or degraded;
the checks (database, workers, their states) are for signed-in callers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.runtime import Runtime


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["health"])

    @r.get("/health")
    async def health(request: Request) -> JSONResponse:
        report = await runtime.health()
        status = 200 if report["status"] == "ok" else 503
        if getattr(request.state, "principal", None) is None:
            return JSONResponse({"status": report["status"]}, status_code=status)
        return JSONResponse(report, status_code=status)

    @r.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        await runtime.health()  # refreshes the worker gauges
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return r
