"""Who a page is served to, and what that principal may see and do: every page lists, subscribes and acts
through these (pages never read the principal themselves)."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from app.core.bus import EventBus
from app.core.i18n import _, language, use_language
from app.core.principal import Principal
from services.scope import ScopedBus, Sites


def page_principal() -> Principal | None:
    """Who the current page was served to (found by the middleware for the page's request); None for a page
    built without a request (NiceGUI's auto-index)."""
    try:
        return getattr(ui.context.client.request.state, "principal", None)
    except RuntimeError:
        return None


def page_language() -> str | None:
    """The language the current page is read in (the account's, else its browser's; set by the middleware),
    None outside a page. Registered with `app.core.i18n`, so `_()` in pages and their event handlers speaks
    it."""
    try:
        return getattr(ui.context.client.request.state, "language", None)
    except (RuntimeError, AttributeError):
        return None


def page_in_language() -> None:
    """Quasar's own texts (a table's "1-20 of 45", date pickers) and NiceGUI's "connection lost" in the
    page's language too: NiceGUI takes them from the page's route, shared by every request, so this page's
    client gets a copy of its route set to its language (`en`: Quasar's en-GB, day before month as ours)."""
    client = ui.context.client
    wanted = {"en": "en-GB"}.get(language(), language())
    if client.page.language != wanted:
        route = copy.copy(client.page)
        route.language = wanted
        client.page = route


def page_actor() -> str:
    """The name recorded for what the current page's user does (actions, activations)."""
    principal = page_principal()
    return principal.name if principal is not None else "page"


def page_sites() -> Sites:
    """The sites the page's principal may see: None for every site (an unrestricted account), else their
    names. Every page filters what it lists with this (`services.scope.keep`); no principal sees nothing."""
    principal = page_principal()
    return principal.sites if principal is not None else frozenset()


def page_sees(site: str | None) -> bool:
    sites = page_sites()
    return sites is None or site in sites


def page_bus(bus: EventBus) -> ScopedBus:
    """The event bus as the page's principal may see it: events of other sites never reach the page, and
    what the page does with an event is in the page's language (the event may come in a task of its own)."""
    return ScopedBus(bus, page_sites(), around=in_language(page_language()))


def in_language(code: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wraps a callback so that it, and the coroutine it may return, speak `code` (None: the default)."""

    def around(callback: Callable[..., Any]) -> Callable[..., Any]:
        def speaking(*args: Any) -> Any:
            with use_language(code):
                result = callback(*args)
            if inspect.isawaitable(result):
                return _awaited_in(code, result)
            return result

        return speaking

    return around


async def _awaited_in(code: str | None, result: Awaitable[Any]) -> Any:
    with use_language(code):
        return await result


def page_has_role(role: str) -> bool:
    """Whether the page's principal has `role` somewhere: pages show the controls of a role only to those
    who have it (a viewer sees no switch it could not use). Acting still checks the site (`page_allows`)."""
    principal = page_principal()
    return principal is not None and principal.has_role(role)


def page_allows(role: str, *, site: str | None = None, quiet: bool = False) -> bool:
    """Whether the page's principal has `role` (on `site`; a site-limited principal may do nothing whose site
    is not given, as that concerns every site). Page actions
    travel over the page's socket, which the HTTP rules do not see, so a page checks its own actions with
    this (and says why it refuses)."""
    principal = page_principal()
    allowed = principal is not None and principal.has_role(role)
    if not allowed:
        if not quiet:
            ui.notify(_("This needs the role {role}").format(role=role), type="warning")
        return False
    if principal.scoped and not principal.may_use_site(site):
        if not quiet:
            what = (
                _("the site {site}").format(site=site)
                if site
                else _("every site (site-limited accounts cannot)")
            )
            ui.notify(
                _("{name} may not act on {what}").format(name=principal.name, what=what), type="warning"
            )
        return False
    return True
