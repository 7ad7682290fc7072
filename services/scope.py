"""What a request may touch, decided in one place.

A request names what it reads by site, room or sensor (or by nothing: "everything"); a principal may be
limited to some sites. `ScopeResolver.resolve` turns both into a `Selection`: the rooms the request reads,
already intersected with the principal's sites. Services filter by those rooms, so the answer can only
hold what the principal may see, whichever parameters the request used. A name outside the principal's
sites is refused (`OutOfScope`, 403) with the same words whether or not it exists, so a limited account
cannot probe other sites' names.

`sites` is `Principal.sites`: None for an unrestricted principal, else the names of the sites it may see.

Events and rows are seen through the same rule (`visible`): bus payloads name their site, a `Measurement`
by `.site`, every dict event (alerts, actions, module states, predictions) by `"enseigne"` as the WebSocket
contract has it; `ScopedBus` is the event bus as a limited principal sees it (pages and `/ws`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from nicegui import Event, helpers
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.bus import EventBus
from app.core.db.models import Room, Sensor, Site
from app.core.i18n import _

from .errors import NotFound

Sites = frozenset[str] | None
T = TypeVar("T")


class OutOfScope(Exception):
    """The request names something outside the principal's sites (answered 403)."""


@dataclass(frozen=True, slots=True)
class Selection:
    """The rooms a request reads. `room_ids` None means every room: only for an unrestricted principal that
    named nothing. `sensor_pk` narrows to one sensor's readings when the request named one."""

    room_ids: frozenset[int] | None
    sensor_pk: int | None = None

    def allows(self, room_id: int | None) -> bool:
        return self.room_ids is None or room_id in self.room_ids


EVERYTHING = Selection(None)


def blank(value: str | None) -> str | None:
    """A name parameter as the services read it: an empty value names nothing."""
    return value if value else None


def may_see(sites: Sites, site: str | None) -> bool:
    return sites is None or (site is not None and site in sites)


def check_site(sites: Sites, site: str | None, what: str = "site") -> None:
    """Refuse a named site outside `sites` (OutOfScope); None (nothing named) passes."""
    if site is not None and not may_see(sites, site):
        raise OutOfScope(_("this account may not see the {what} {site!r}").format(what=what, site=site))


def covers(sites: Sites, others: frozenset[str] | list[str] | None) -> bool:
    """Whether a principal limited to `sites` reaches everything of an object limited to `others` (None:
    every site). A site-limited principal never covers an unrestricted object."""
    if sites is None:
        return True
    return others is not None and len(others) > 0 and set(others) <= sites


class ScopeResolver:
    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def resolve(
        self,
        sites: Sites,
        *,
        site: str | None = None,
        room: str | None = None,
        sensor_id: str | None = None,
        room_id: int | None = None,
    ) -> Selection:
        """The rooms named by `site`, `room` (a name, within `site` when given), `sensor_id` and `room_id`
        (all that are given must hold together), within `sites`. Raises OutOfScope for a name outside
        `sites` and NotFound for one that does not exist (for a limited principal: within its sites)."""
        site, room, sensor_id = blank(site), blank(room), blank(sensor_id)
        check_site(sites, site)
        if sites is None and site is None and room is None and sensor_id is None and room_id is None:
            return EVERYTHING
        with self.sessions() as s:
            sensor_pk = None
            if sensor_id is not None:
                sensor_pk = self._sensor(s, sites, sensor_id)
            stmt = select(Room.id).join(Site, Room.site_id == Site.id)
            if sites is not None:
                stmt = stmt.where(Site.name.in_(sorted(sites)))
            if site is not None:
                stmt = stmt.where(Site.name == site)
            if room is not None:
                stmt = stmt.where(Room.name == room)
            if room_id is not None:
                stmt = stmt.where(Room.id == room_id)
            ids = frozenset(s.scalars(stmt))
            if not ids and (site is not None or room is not None or room_id is not None):
                self._missing(s, sites, site, room, room_id)
            return Selection(ids, sensor_pk)

    def check_room(self, sites: Sites, room_id: int | None, what: str) -> None:
        """Refuse an object (found by its id) whose room is outside `sites`; an object in no room is
        outside every limited principal's sites."""
        if sites is None:
            return
        with self.sessions() as s:
            name = (
                s.scalar(select(Site.name).join(Room, Room.site_id == Site.id).where(Room.id == room_id))
                if room_id is not None
                else None
            )
        if not may_see(sites, name):
            raise OutOfScope(
                _("this account may not see {what}: it belongs to another site").format(what=what)
            )

    @staticmethod
    def _sensor(s: Session, sites: Sites, sensor_id: str) -> int:
        row = s.execute(
            select(Sensor.id, Site.name)
            .select_from(Sensor)
            .outerjoin(Room, Sensor.room_id == Room.id)
            .outerjoin(Site, Room.site_id == Site.id)
            .where(Sensor.sensor_id == sensor_id)
        ).first()
        if sites is not None and (row is None or not may_see(sites, row[1])):
            raise OutOfScope(
                _("this account may not see the sensor {sensor_id!r}").format(sensor_id=sensor_id)
            )
        if row is None:
            raise NotFound(_("no sensor with id {sensor_id!r}").format(sensor_id=sensor_id))
        return row[0]

    @staticmethod
    def _missing(s: Session, sites: Sites, site: str | None, room: str | None, room_id: int | None) -> None:
        """Why nothing matched: the first name that does not exist (within `sites`)."""
        if room_id is not None:
            if sites is not None:
                raise OutOfScope(_("this account may not see the room {room_id}").format(room_id=room_id))
            raise NotFound(_("room {room_id} does not exist").format(room_id=room_id))
        if site is not None and s.scalar(select(Site.id).where(Site.name == site)) is None:
            raise NotFound(_("no site named {site!r}").format(site=site))
        if room is not None:
            raise NotFound(f"no room named {room!r}" + (f" in site {site!r}" if site else ""))


# -- events and rows, as a limited principal sees them
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


def keep(sites: Sites, items: Iterable[T], key: str = "name") -> list[T]:
    """The items (sites, named by their `key` "name": mappings or objects) a principal may see."""
    items = list(items)
    if sites is None:
        return items
    return [i for i in items if (i.get(key) if isinstance(i, dict) else getattr(i, key, None)) in sites]


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


Around = Callable[[Callable[..., Any]], Callable[..., Any]]


class _ScopedEvent:
    def __init__(self, event: Event, sites: Sites, around: Around | None = None) -> None:
        self.event, self.sites, self.around = event, sites, around

    def subscribe(self, callback: Callable[..., Any], **options: Any) -> None:
        options.setdefault("expect_args", helpers.expects_arguments(callback))
        seeing = filtered(callback, self.sites)
        self.event.subscribe(self.around(seeing) if self.around else seeing, **options)

    def emit(self, *args: Any) -> None:
        self.event.emit(*args)


class ScopedBus:
    """The event bus as a principal limited to `sites` sees it: same topics, subscriptions filtered.
    Pages take theirs from `components.access.page_bus`, so no page subscribes to the raw bus. `around`
    wraps each callback (the pages: to run it in the page's language, whatever task the event comes in)."""

    def __init__(self, bus: EventBus, sites: Sites, around: Around | None = None) -> None:
        self._bus, self.sites, self.around = bus, sites, around

    def __getattr__(self, name: str) -> _ScopedEvent:
        return _ScopedEvent(getattr(self._bus, name), self.sites, self.around)

    def topic(self, name: str) -> _ScopedEvent:
        return _ScopedEvent(self._bus.topic(name), self.sites, self.around)
