"""Wires the runtime into NiceGUI's FastAPI app: routers, error handlers, middleware, pages, life cycle."""

from __future__ import annotations

import secrets
import time

from nicegui import app as nicegui_app

from app.api import alerts as alerts_api
from app.api import auth as auth_api
from app.api import config as config_api
from app.api import health as health_api
from app.api import ingest as ingest_api
from app.api import models as models_api
from app.api import modules as modules_api
from app.api import original as original_api
from app.api import predict as predict_api
from app.api import query as query_api
from app.api import reports as reports_api
from app.api import ws as ws_api
from app.api.common import install_error_handlers
from app.api.lane import LANE_PATHS, install_device_lane
from app.api.openapi import install_openapi
from app.auth.edge import Edge
from app.auth.middleware import AuthMiddleware, origin_of
from app.core.settings import Settings
from app.runtime import Runtime

_API_PREFIXES = ("/api/", "/iaq", "/health", "/metrics", "/ws")


class LatencyMiddleware:
    """Pure ASGI (no per-request object churn): records latency per API route template."""

    def __init__(self, asgi, runtime: Runtime):
        self.asgi, self.histogram = asgi, runtime.metrics.request_latency
        self._children: dict[tuple[str, str, int], object] = {}  # labels() costs more than observe()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(_API_PREFIXES):
            return await self.asgi(scope, receive, send)
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.asgi(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or (
                scope["path"] if scope["path"] in LANE_PATHS else "unmatched"
            )
            self.observe(scope["method"], route, status[0], time.perf_counter() - started)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one request's latency (also called by the device lane's HTTP protocol, which skips ASGI)."""
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.histogram.labels(method, route, str(status))
        child.observe(seconds)


def storage_secret(settings: Settings) -> str:
    """IAQ_STORAGE_SECRET, or one generated on first start and kept in the data folder."""
    if settings.storage_secret:
        return settings.storage_secret
    path = settings.ensure_data_dir() / ".storage_secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def setup(runtime: Runtime) -> None:
    """Register everything on NiceGUI's app: once per process (and once per test with the user fixture)."""
    from pages import register_pages  # pages import NiceGUI UI code; keep the API importable without it
    from pages.not_found import not_found_page

    app = nicegui_app
    app.state.runtime = runtime
    # FastAPI's built-in OpenTelemetry hook looks up the tracer and meter providers in the environment on
    # every request; the platform configures none, so switch it off (it measurably slows ingestion).
    telemetry = getattr(app, "_telemetry", None)
    if isinstance(telemetry, dict):
        telemetry.update(tracing=False, metrics=False, logs=False)
    install_error_handlers(app, page_not_found=not_found_page)
    app.add_middleware(LatencyMiddleware, runtime=runtime)
    app.add_middleware(AuthMiddleware, runtime=runtime)  # default deny: app/auth/policy.py
    if runtime.settings.cors_origins:  # closed unless configured
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=runtime.settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )
    settings = runtime.settings
    oidc_origin = origin_of(settings.oidc_issuer) if settings.oidc_enabled else None
    edge = Edge(settings.trusted_proxies, oidc_origin)  # proxies, security headers, Secure cookies
    install_device_lane(app, LatencyMiddleware(ingest_api.IngestEndpoint(runtime), runtime), edge)
    # FastAPI wraps the app's lifespan once more for every router it includes; start from the app's own each
    # time, or the `user` test fixture (one setup per test) nests lifespans until the recursion limit.
    original_lifespan = app.__dict__.setdefault("_iaq_original_lifespan", app.router.lifespan_context)
    app.router.lifespan_context = original_lifespan
    for module in (
        ingest_api,
        query_api,
        predict_api,
        config_api,
        alerts_api,
        reports_api,
        health_api,
        original_api,
    ):
        app.include_router(module.router(runtime))
    app.include_router(modules_api.router(runtime))
    app.include_router(models_api.router(runtime))  # model registry, forecasts, preventive actions
    app.include_router(auth_api.router(runtime))
    if runtime.settings.oidc_enabled:
        from app.api import oidc as oidc_api  # Authlib is imported only when single sign-on is configured

        app.include_router(oidc_api.router(runtime))
    if runtime.settings.websocket_enabled:
        app.include_router(ws_api.router(runtime))
    register_pages(runtime)
    install_openapi(app)  # after every route: the document lists them all, with the real error bodies
    app.on_startup(runtime.start)
    app.on_shutdown(runtime.stop)
