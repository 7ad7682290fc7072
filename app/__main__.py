"""`python -m app`: start the platform with the settings from the environment.

NiceGUI's `user` test fixture runs this file too (with the server part simulated), which is why
everything is built here and nothing at import time of other modules.
"""

import logging
from pathlib import Path

from nicegui import app as nicegui_app
from nicegui import ui

from app.api.lane import lane_http_protocol
from app.core.observability import quiet_http_clients
from app.core.settings import Settings
from app.main import setup, storage_secret
from app.runtime import build_runtime

settings = Settings()
logging.basicConfig(
    level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
)
quiet_http_clients(settings.log_level)
runtime = build_runtime(settings)
setup(runtime)

if __name__ in {"__main__", "__mp_main__"}:
    ui.run(
        host=settings.host,
        port=settings.port,
        title="IAQverse",
        reload=False,  # one process: NiceGUI supports neither reload in production nor several workers
        show=False,
        storage_secret=storage_secret(settings),
        favicon=Path(__file__).resolve().parents[1] / "static" / "favicon.svg",
        fastapi_docs=True,
        uvicorn_logging_level="warning",
        http=lane_http_protocol(nicegui_app, settings.max_body_bytes),  # device POSTs skip the ASGI stack
        # the session cookie lives as long as a session may (IAQ_SESSION_MAX), not Starlette's 14 days;
        # `Secure` is added over https at the edge (app/auth/edge.py)
        session_middleware_kwargs={"max_age": int(settings.session_max_s)},
        proxy_headers=False,  # uvicorn believes X-Forwarded-* of any local peer; IAQ_TRUSTED_PROXIES decides
    )
