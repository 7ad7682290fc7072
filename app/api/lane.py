"""A short path for device ingestion through the ASGI stack.

NiceGUI wraps every request in middleware made for pages: sessions, gzip and three `BaseHTTPMiddleware`
layers that each start a task group; FastAPI adds routing, dependency solving and exception wrapping.
Measured here (docs/benchmarks.md), that stack limits a sensor POST to a fraction of what storing it costs.
So `POST /api/ingest` and `POST /iaq` go from the outermost layer straight to `IngestEndpoint`, which
shares its work and its error answers with the FastAPI routes (those stay, and document the contract).
Everything else (pages, the rest of the API) takes the full stack.
"""

from __future__ import annotations

from fastapi import FastAPI

LANE_PATHS = frozenset({"/api/ingest", "/iaq"})


class DeviceLane:
    def __init__(self, full_stack, lane):
        self.full_stack, self.lane = full_stack, lane

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] in LANE_PATHS:
            return await self.lane(scope, receive, send)
        return await self.full_stack(scope, receive, send)


def install_device_lane(app: FastAPI, lane) -> None:
    """Make the app's middleware stack start with the lane (an ASGI app for LANE_PATHS).
    Safe to call again: the `user` test fixture rebuilds the app for every test."""
    original = app.__dict__.get("_iaq_original_build") or app.build_middleware_stack
    app.__dict__["_iaq_original_build"] = original
    app.build_middleware_stack = lambda: DeviceLane(original(), lane)
    app.middleware_stack = None
