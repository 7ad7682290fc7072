"""The page for an address that is no page: the platform's frame, what was asked for and the way back
(NiceGUI's own page showed `HTTPException: 404: Not Found`). Unknown API paths answer JSON
(app.api.common)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from nicegui import Client, ui
from nicegui.page import page

from app.core.i18n import _
from components.frame import frame


async def not_found_page(request: Request, _exc: Exception) -> Response:
    with Client(page(""), request=request) as client, frame(_("Page not found"), section=""):
        ui.label(_("There is no page at {path}.").format(path=request.url.path)).mark("not-found")
        ui.label(_("It may have been deleted (a room or a site), or the address was mistyped.")).classes(
            "text-grey-7"
        )
        ui.button(_("Go to the dashboard"), icon="dashboard", on_click=lambda: ui.navigate.to("/"))
    return client.build_response(request, 404)
