"""Site configuration: sites (`enseigne`), rooms (`salle`), sensors; import and export as JSON.

Every change runs in one transaction; after it, ingestion reloads its copy of the registry and
`bus.config_changed` tells open pages to refresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from app.core.bus import EventBus
from app.core.db.models import Room, Sensor, Site
from app.core.domain.geometry import check_geometry
from app.core.domain.readings import FieldError, InvalidInput
from app.core.domain.validation import MAX_ID, check_name, check_opening_hours, check_timezone
from app.core.i18n import _
from app.core.storage.sql_schema import readings

from ..errors import Conflict, NotFound
from ..registry_index import RegistryIndex
from ..room_models import RoomModels

T = TypeVar("T")


def site_dict(site: Site, counts: dict[int, int] | None = None) -> dict[str, Any]:
    return {
        "id": site.id,
        "name": site.name,
        "timezone": site.timezone,
        "address": site.address,
        "opening_hours": site.opening_hours,
        "external_id": site.external_id,
        "rooms": [room_dict(r, counts) for r in site.rooms],
    }


def room_dict(room: Room, counts: dict[int, int] | None = None) -> dict[str, Any]:
    out = {
        "id": room.id,
        "site_id": room.site_id,
        "name": room.name,
        "timezone": room.timezone,
        "effective_timezone": room.effective_timezone,
        "kind": room.kind,
        "external_id": room.external_id,
        "sensors": [s.sensor_id for s in sorted(room.sensors, key=lambda s: s.sensor_id)],
        "geometry": room.geometry,
    }
    if counts is not None:
        out["readings"] = counts.get(room.id, 0)
    return out


class ConfigCrud:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        index: RegistryIndex,
        bus: EventBus,
        default_timezone: str,
        room_models: RoomModels,
        time_series: Any = None,
    ):
        self.sessions, self.index, self.bus = sessions, index, bus
        self.default_timezone = default_timezone
        self.room_models = room_models  # a room's 3D model goes with it: a later room may get the same id
        # a store keeping readings outside the registry's database (InfluxDB): counted and deleted there
        self.time_series = time_series

    def _reading_count(self, s: Session, room_ids: list[int]) -> int:
        if self.time_series is not None:
            return self.time_series.count(room_ids) if room_ids else 0
        return _count_readings(s, room_ids)

    def _delete_readings(self, room_ids: list[int], what: str) -> None:
        """Before the registry rows go (their ids may be reused): delete the readings kept elsewhere."""
        if self.time_series is None or not room_ids:
            return
        try:
            self.time_series.delete_rooms(room_ids)
        except Exception as exc:
            raise Conflict(
                _(
                    "the readings of {what} could not be deleted from the time-series store ({exc}); "
                    "nothing was deleted, try again when it is back"
                ).format(what=what, exc=exc)
            ) from exc

    async def _run(self, work: Callable[[Session], T], *, changes: bool) -> T:
        def job() -> T:
            with self.sessions.begin() as session:
                return work(session)

        result = await asyncio.to_thread(job)
        if changes:
            self.index.mark_stale()
            self.bus.config_changed.emit()
        return result

    # -- reading
    async def list_sites(self, *, with_counts: bool = False) -> list[dict[str, Any]]:
        def work(s: Session):
            counts = None
            if with_counts and self.time_series is not None:
                counts = self.time_series.counts_by_room()
            elif with_counts:
                counts = dict(
                    s.execute(select(readings.c.room_id, func.count()).group_by(readings.c.room_id)).all()
                )
            sites = s.scalars(
                select(Site).options(selectinload(Site.rooms).selectinload(Room.sensors)).order_by(Site.name)
            ).all()
            return [site_dict(site, counts) for site in sites]

        return await self._run(work, changes=False)

    async def get_site(self, site_id: int) -> dict[str, Any]:
        return await self._run(lambda s: site_dict(_get(s, Site, site_id, "site")), changes=False)

    async def get_room(self, room_id: int) -> dict[str, Any]:
        def work(s: Session):
            room = _get(s, Room, room_id, "room")
            return {**room_dict(room), "site": room.site.name}

        return await self._run(work, changes=False)

    async def list_sensors(self) -> list[dict[str, Any]]:
        def work(s: Session):
            rows = s.scalars(
                select(Sensor)
                .options(selectinload(Sensor.room).selectinload(Room.site))
                .order_by(Sensor.sensor_id)
            ).all()
            return [_sensor_dict(x) for x in rows]

        return await self._run(work, changes=False)

    # -- sites
    async def create_site(self, data: dict[str, Any]) -> dict[str, Any]:
        name = check_name(data.get("name"), "name")
        tz = check_timezone(data.get("timezone") or self.default_timezone, "timezone")
        hours = check_opening_hours(data.get("opening_hours"))
        address = _optional_text(data.get("address"), "address", 256)

        def work(s: Session):
            if s.scalar(select(Site.id).where(Site.name == name)):
                raise Conflict(_("a site named {name!r} exists already").format(name=name))
            site = Site(name=name, timezone=tz, opening_hours=hours, address=address)
            s.add(site)
            s.flush()
            return site_dict(site)

        return await self._run(work, changes=True)

    async def update_site(self, site_id: int, data: dict[str, Any]) -> dict[str, Any]:
        changes = _site_changes(data)

        def work(s: Session):
            site = _get(s, Site, site_id, "site")
            if (
                "name" in changes
                and changes["name"] != site.name
                and s.scalar(select(Site.id).where(Site.name == changes["name"]))
            ):
                raise Conflict(_("a site named {name!r} exists already").format(name=changes["name"]))
            for key, value in changes.items():
                setattr(site, key, value)
            s.flush()
            return site_dict(site)

        return await self._run(work, changes=True)

    async def delete_site(self, site_id: int, *, cascade: bool = False) -> dict[str, Any]:
        """Delete a site: 409 while it has rooms, unless `cascade` (rooms, their readings and 3D models)."""

        def work(s: Session):
            site = _get(s, Site, site_id, "site")
            room_ids = [r.id for r in site.rooms]
            n = self._reading_count(s, room_ids)
            if room_ids and not cascade:
                raise Conflict(
                    _(
                        "site {name!r} has {len} room(s) and {n} reading(s); repeat with cascade=true "
                        "to delete them all"
                    ).format(name=site.name, len=len(room_ids), n=n)
                )
            self._delete_readings(room_ids, f"site {site.name!r}")
            s.delete(site)
            return {"deleted": "site", "name": site.name, "rooms": len(room_ids), "readings": n}, room_ids

        result, room_ids = await self._run(work, changes=True)
        for room_id in room_ids:  # their 3D models go with them
            await self.room_models.delete(room_id)
        return result

    # -- rooms
    async def create_room(self, site_id: int, data: dict[str, Any]) -> dict[str, Any]:
        name = check_name(data.get("name"), "name")
        tz = check_timezone(data["timezone"], "timezone") if data.get("timezone") else None
        kind = _optional_text(data.get("kind"), "kind", 64)

        def work(s: Session):
            site = _get(s, Site, site_id, "site")
            if any(r.name == name for r in site.rooms):
                raise Conflict(
                    _("site {name!r} has a room named {name2!r} already").format(name=site.name, name2=name)
                )
            room = Room(site=site, name=name, timezone=tz, kind=kind)
            s.add(room)
            s.flush()
            return room_dict(room)

        return await self._run(work, changes=True)

    async def update_room(self, room_id: int, data: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if "name" in data:
            changes["name"] = check_name(data["name"], "name")
        if "timezone" in data:
            changes["timezone"] = check_timezone(data["timezone"], "timezone") if data["timezone"] else None
        if "kind" in data:
            changes["kind"] = _optional_text(data["kind"], "kind", 64)

        def work(s: Session):
            room = _get(s, Room, room_id, "room")
            new_name = changes.get("name")
            if new_name and new_name != room.name and any(r.name == new_name for r in room.site.rooms):
                raise Conflict(
                    _("site {name!r} has a room named {new_name!r} already").format(
                        name=room.site.name, new_name=new_name
                    )
                )
            for key, value in changes.items():
                setattr(room, key, value)
            s.flush()
            return room_dict(room)

        return await self._run(work, changes=True)

    async def delete_room(self, room_id: int, *, cascade: bool = False) -> dict[str, Any]:
        """Delete a room: 409 while it has readings, unless `cascade` (its readings and its 3D model too)."""

        def work(s: Session):
            room = _get(s, Room, room_id, "room")
            n = self._reading_count(s, [room.id])
            if n and not cascade:
                raise Conflict(
                    _("room {name!r} has {n} reading(s); repeat with cascade=true to delete them").format(
                        name=room.name, n=n
                    )
                )
            self._delete_readings([room.id], f"room {room.name!r}")
            s.delete(room)
            return {"deleted": "room", "name": room.name, "readings": n}

        result = await self._run(work, changes=True)
        await self.room_models.delete(room_id)  # its 3D model goes with it
        return result

    # -- geometry of the digital twin
    async def get_room_geometry(self, room_id: int) -> dict[str, Any]:
        """`{"room_id", "geometry"}`; geometry None means the twin lays the room out by default."""

        def work(s: Session):
            return {"room_id": room_id, "geometry": _get(s, Room, room_id, "room").geometry}

        return await self._run(work, changes=False)

    async def set_room_geometry(self, room_id: int, data: Any) -> dict[str, Any]:
        """Replace a room's geometry (see `app.core.domain.geometry`); None clears it. Sensor positions must
        name sensors of the room."""
        geometry = None if data is None else check_geometry(data).as_dict()

        def work(s: Session):
            room = _get(s, Room, room_id, "room")
            if geometry is not None:
                own = {x.sensor_id for x in room.sensors}
                strangers = [
                    FieldError(f"sensors.{sid}", _("is not a sensor of room {name!r}").format(name=room.name))
                    for sid in geometry["sensors"]
                    if sid not in own
                ]
                if strangers:
                    raise InvalidInput(strangers)
            room.geometry = geometry
            return {"room_id": room_id, "geometry": geometry}

        return await self._run(work, changes=True)

    # -- sensors
    async def upsert_sensor(self, sensor_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Register a sensor or change its room (`room_id`, null to unassign) and label."""
        sensor_id = check_name(sensor_id, "sensor_id")
        label = _optional_text(data.get("label"), "label", 128) if "label" in data else None

        def work(s: Session):
            sensor = s.scalar(select(Sensor).where(Sensor.sensor_id == sensor_id))
            if sensor is None:
                sensor = Sensor(sensor_id=sensor_id)
                s.add(sensor)
            if "room_id" in data:
                room_id = data["room_id"]
                if room_id is not None and (not isinstance(room_id, int) or s.get(Room, room_id) is None):
                    raise NotFound(_("room {room_id!r} does not exist").format(room_id=room_id))
                sensor.room_id = room_id
            if "label" in data:
                sensor.label = label
            s.flush()
            s.refresh(sensor)
            return _sensor_dict(sensor)

        return await self._run(work, changes=True)


def _get(s: Session, model: type[T], pk: int, what: str) -> T:
    obj = s.get(model, pk) if 0 < pk <= MAX_ID else None
    if obj is None:
        raise NotFound(_("{what} {pk} does not exist").format(what=what, pk=pk))
    return obj


def _count_readings(s: Session, room_ids: list[int]) -> int:
    if not room_ids:
        return 0
    return int(
        s.scalar(select(func.count()).select_from(readings).where(readings.c.room_id.in_(room_ids))) or 0
    )


def _sensor_dict(sensor: Sensor) -> dict[str, Any]:
    room = sensor.room
    return {
        "sensor_id": sensor.sensor_id,
        "label": sensor.label,
        "room_id": sensor.room_id,
        "salle": room.name if room else None,
        "enseigne": room.site.name if room else None,
    }


def _optional_text(value: Any, field: str, size: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > size:
        raise FieldError(field, _("must be text of at most {size} characters").format(size=size)).as_error()
    return value.strip()


def _site_changes(data: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = check_name(data["name"], "name")
    if "timezone" in data:
        changes["timezone"] = check_timezone(data["timezone"], "timezone")
    if "opening_hours" in data:
        changes["opening_hours"] = check_opening_hours(data["opening_hours"])
    if "address" in data:
        changes["address"] = _optional_text(data["address"], "address", 256)
    return changes
