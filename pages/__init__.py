"""NiceGUI pages, one file per page; `register_pages` adds them all for a runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.runtime import Runtime


def register_pages(runtime: Runtime) -> None:
    from app.core import i18n
    from components.access import page_language

    from . import alerts, compare, dashboard, login, models, modules, reports, room, settings, twin

    i18n.add_resolver(page_language)

    dashboard.register(runtime)
    room.register(runtime)
    alerts.register(runtime)
    compare.register(runtime)
    reports.register(runtime)
    settings.register(runtime)
    twin.register(runtime)
    modules.register(runtime)
    models.register(runtime)
    login.register(runtime)
