"""What a site-limited principal may see, in one place: the pages, `/ws` and the API handlers that take a site
from a request body all filter through these helpers.

`sites` is `Principal.sites`: None for an unrestricted principal (everything passes unchanged), else the
names of the sites it may see. Bus payloads name their site: a `Measurement` by `.site`, every dict event
(alerts, actions, module states, predictions) by `"enseigne"`, as the WebSocket contract has it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from nicegui import Event, helpers

from app.bus import EventBus
from services.scope import Sites, may_see


def site_of(payload: Any) -> str | None:
    site = getattr(payload, "site", None)
    if isinstance(site, str):
        return site
    if isinstance(payload, dict):
        named = payload.get("enseigne", payload.get("site"))
        return named if isinstance(named, str) else None
    return None


def visible(sites: Sites, payload: Any) -> bool:
    """Whether a principal limited to `sites` may see this event or row (a payload naming no site is
    hidden from a limited principal: what cannot be placed is not shown). The same rule as every request's
    names (`services.scope.may_see`)."""
    return may_see(sites, site_of(payload))


def keep(sites: Sites, items: Iterable[dict[str, Any]], key: str = "name") -> list[dict[str, Any]]:
    """The items (sites as listed by the configuration service: `key` "name") a principal may see."""
    items = list(items)
    return items if sites is None else [item for item in items if item.get(key) in sites]


def filtered(callback: Callable[..., Any], sites: Sites) -> Callable[..., Any]:
    """`callback` for a bus event, seeing only the payloads of `sites`: a batch (list) is cut down to its
    visible part and dropped when nothing is left; a single payload of another site is dropped."""
    if sites is None:
        return callback

    def seeing(*args: Any) -> Any:
        if not args:
            return callback()
        payload = args[0]
        if isinstance(payload, list):
            payload = [item for item in payload if visible(sites, item)]
            if not payload:
                return None
        elif not visible(sites, payload):
            return None
        return callback(payload, *args[1:])

    return seeing


class _ScopedEvent:
    def __init__(self, event: Event, sites: Sites) -> None:
        self.event, self.sites = event, sites

    def subscribe(self, callback: Callable[..., Any], **options: Any) -> None:
        options.setdefault("expect_args", helpers.expects_arguments(callback))
        self.event.subscribe(filtered(callback, self.sites), **options)

    def emit(self, *args: Any) -> None:
        self.event.emit(*args)


class ScopedBus:
    """The event bus as a principal limited to `sites` sees it: same topics, subscriptions filtered.
    Pages take theirs from `pages.login.page_bus`, so no page subscribes to the raw bus."""

    def __init__(self, bus: EventBus, sites: Sites) -> None:
        self._bus, self.sites = bus, sites

    def __getattr__(self, name: str) -> _ScopedEvent:
        return _ScopedEvent(getattr(self._bus, name), self.sites)

    def topic(self, name: str) -> _ScopedEvent:
        return _ScopedEvent(self._bus.topic(name), self.sites)
