"""`/health` (503 when degraded), `/health/ready` (503 only when this instance cannot take readings) and
`/metrics` (Prometheus text format).

`/health` is open to load balancers and probes, but tells an anonymous caller only ok or degraded;
the checks (database, workers, their states) are for signed-in callers. A shared broker or InfluxDB that is
unreachable degrades every instance at once while they still take readings (into the outbox): a load
balancer should poll `/health/ready`, which leaves them in service then."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api import answers as A
from app.runtime import Runtime

READY_CHECKS = ("database", "ingestion")  # what an instance cannot take readings without


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["health"])

    @r.get("/health", **A.answers(A.Health))
    async def health(request: Request) -> JSONResponse:
        report = await runtime.health.check()
        status = 200 if report["status"] == "ok" else 503
        if getattr(request.state, "principal", None) is None:
            return JSONResponse({"status": report["status"]}, status_code=status)
        return JSONResponse(report, status_code=status)

    @r.get("/health/ready", **A.answers(A.Health))
    async def ready(request: Request) -> JSONResponse:
        """200 while this instance can take and store readings (its database answers, its ingestion writer
        runs), whatever else is degraded; 503 otherwise."""
        report = await runtime.health.check()
        critical = {name: report["checks"][name] for name in READY_CHECKS if name in report["checks"]}
        ok = all(check["status"] == "ok" for check in critical.values())
        body: dict = {"status": "ready" if ok else "not ready"}
        if getattr(request.state, "principal", None) is not None:
            body["checks"] = critical
        return JSONResponse(body, status_code=200 if ok else 503)

    @r.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        await runtime.health.check()  # refreshes the worker gauges
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return r
