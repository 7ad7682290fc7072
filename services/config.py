"""Site configuration: sites (`enseigne`), rooms (`salle`), sensors; import and export as JSON.

Every change runs in one transaction; after it, ingestion reloads its copy of the registry and
`bus.config_changed` tells open pages to refresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from app.core.bus import EventBus
from app.core.db.models import Room, Sensor, Site
from app.core.domain.geometry import check_geometry
from app.core.domain.readings import FieldError, InvalidInput
from app.core.domain.validation import MAX_ID, check_name, check_opening_hours, check_timezone
from app.core.storage.sql_schema import readings

from .errors import Conflict, NotFound
from .registry_index import RegistryIndex
from .room_models import RoomModels

T = TypeVar("T")
EXPORT_FORMAT = "iaqverse-config"


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


class ConfigService:
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
                f"the readings of {what} could not be deleted from the time-series store ({exc}); "
                "nothing was deleted, try again when it is back"
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
                raise Conflict(f"a site named {name!r} exists already")
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
                raise Conflict(f"a site named {changes['name']!r} exists already")
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
                    f"site {site.name!r} has {len(room_ids)} room(s) and {n} reading(s); "
                    "repeat with cascade=true to delete them all"
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
                raise Conflict(f"site {site.name!r} has a room named {name!r} already")
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
                raise Conflict(f"site {room.site.name!r} has a room named {new_name!r} already")
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
                    f"room {room.name!r} has {n} reading(s); repeat with cascade=true to delete them"
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
                    FieldError(f"sensors.{sid}", f"is not a sensor of room {room.name!r}")
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
                    raise NotFound(f"room {room_id!r} does not exist")
                sensor.room_id = room_id
            if "label" in data:
                sensor.label = label
            s.flush()
            s.refresh(sensor)
            return _sensor_dict(sensor)

        return await self._run(work, changes=True)

    # -- import / export
    async def export_config(self) -> dict[str, Any]:
        def work(s: Session):
            sites = s.scalars(
                select(Site).options(selectinload(Site.rooms).selectinload(Room.sensors)).order_by(Site.name)
            ).all()
            loose = s.scalars(select(Sensor).where(Sensor.room_id.is_(None)).order_by(Sensor.sensor_id)).all()
            return {
                "format": EXPORT_FORMAT,
                "version": 1,
                "exported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "sites": [
                    {
                        "name": site.name,
                        "timezone": site.timezone,
                        "address": site.address,
                        "opening_hours": site.opening_hours,
                        "external_id": site.external_id,
                        "rooms": [
                            {
                                "name": r.name,
                                "timezone": r.timezone,
                                "kind": r.kind,
                                "external_id": r.external_id,
                                "geometry": r.geometry,
                                "sensors": [{"sensor_id": x.sensor_id, "label": x.label} for x in r.sensors],
                            }
                            for r in site.rooms
                        ],
                    }
                    for site in sites
                ],
                "unassigned_sensors": [{"sensor_id": x.sensor_id, "label": x.label} for x in loose],
            }

        return await self._run(work, changes=False)

    async def import_config(self, doc: Any) -> dict[str, Any]:
        """Merge a configuration (ours, or the original `lieux.enseignes[].pieces[]`) into the registry.

        Sites and rooms are matched by name and created or updated; nothing is deleted. The whole file is
        checked first: one invalid field and nothing is written.
        """
        sites = _normalise_import(doc, self.default_timezone)

        def work(s: Session):
            report = {
                "sites_created": 0,
                "sites_updated": 0,
                "rooms_created": 0,
                "rooms_updated": 0,
                "sensors_assigned": 0,
                "modules_ignored": 0,
            }
            for item in sites:
                site = s.scalar(select(Site).where(Site.name == item["name"]))
                if site is None:
                    site = Site(name=item["name"], timezone=item["timezone"])
                    s.add(site)
                    report["sites_created"] += 1
                else:
                    report["sites_updated"] += 1
                for key in ("timezone", "address", "opening_hours", "external_id"):
                    if item.get(key) is not None:
                        setattr(site, key, item[key])
                s.flush()
                for r in item["rooms"]:
                    room = s.scalar(select(Room).where(Room.site_id == site.id, Room.name == r["name"]))
                    if room is None:
                        room = Room(site_id=site.id, name=r["name"])
                        s.add(room)
                        report["rooms_created"] += 1
                    else:
                        report["rooms_updated"] += 1
                    for key in ("timezone", "kind", "external_id", "geometry"):
                        if r.get(key) is not None:
                            setattr(room, key, r[key])
                    s.flush()
                    report["modules_ignored"] += r.get("modules", 0)
                    for sensor_id, label in r["sensors"]:
                        sensor = s.scalar(select(Sensor).where(Sensor.sensor_id == sensor_id))
                        if sensor is None:
                            sensor = Sensor(sensor_id=sensor_id)
                            s.add(sensor)
                        sensor.room_id = room.id
                        if label:
                            sensor.label = label
                        report["sensors_assigned"] += 1
            s.flush()
            return report

        return await self._run(work, changes=True)


def _get(s: Session, model: type[T], pk: int, what: str) -> T:
    obj = s.get(model, pk) if 0 < pk <= MAX_ID else None
    if obj is None:
        raise NotFound(f"{what} {pk} does not exist")
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
        raise FieldError(field, f"must be text of at most {size} characters").as_error()
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


def _normalise_import(doc: Any, default_tz: str) -> list[dict[str, Any]]:
    """Both accepted shapes -> [{name, timezone, address, opening_hours, external_id, rooms: [...]}]."""
    if not isinstance(doc, dict):
        raise FieldError("body", "must be a JSON object").as_error()
    errors: list[FieldError] = []

    def guard(fn, *args):
        try:
            return fn(*args)
        except InvalidInput as exc:
            errors.extend(exc.errors)
            return None

    out: list[dict[str, Any]] = []
    if isinstance(doc.get("lieux"), dict):  # the original product's assets/config.json
        items, base, site_key, room_key, rooms_key = (
            doc["lieux"].get("enseignes"),
            "lieux.enseignes",
            "nom",
            "nom",
            "pieces",
        )
    elif "sites" in doc:
        items, base, site_key, room_key, rooms_key = doc["sites"], "sites", "name", "name", "rooms"
    else:
        raise FieldError(
            "body",
            "expected a 'sites' list (IAQverse export) or 'lieux.enseignes' (original IAQverse config.json)",
        ).as_error()
    if not isinstance(items, list):
        raise FieldError(base, "must be a list").as_error()
    seen_sites: set[str] = set()
    for i, item in enumerate(items):
        where = f"{base}[{i}]"
        if not isinstance(item, dict):
            errors.append(FieldError(where, "must be an object"))
            continue
        name = guard(check_name, item.get(site_key), f"{where}.{site_key}")
        if name in seen_sites:
            errors.append(FieldError(f"{where}.{site_key}", f"site {name!r} appears twice"))
        seen_sites.add(name)
        tz = guard(check_timezone, item["timezone"], f"{where}.timezone") if item.get("timezone") else None
        hours = guard(check_opening_hours, item.get("opening_hours"), f"{where}.opening_hours")
        site = {
            "name": name,
            "timezone": tz or default_tz,
            "opening_hours": hours,
            "address": item.get("address") or item.get("adresse"),
            "external_id": str(item["id"]) if item.get("id") is not None else item.get("external_id"),
            "rooms": [],
        }
        rooms = item.get(rooms_key) or []
        if not isinstance(rooms, list):
            errors.append(FieldError(f"{where}.{rooms_key}", "must be a list"))
            rooms = []
        seen_rooms: set[str] = set()
        for j, r in enumerate(rooms):
            rwhere = f"{where}.{rooms_key}[{j}]"
            if not isinstance(r, dict):
                errors.append(FieldError(rwhere, "must be an object"))
                continue
            rname = guard(check_name, r.get(room_key), f"{rwhere}.{room_key}")
            if rname in seen_rooms:
                errors.append(
                    FieldError(f"{rwhere}.{room_key}", f"room {rname!r} appears twice in this site")
                )
            seen_rooms.add(rname)
            rtz = guard(check_timezone, r["timezone"], f"{rwhere}.timezone") if r.get("timezone") else None
            geometry = r.get("geometry")
            if geometry is not None:
                checked = guard(check_geometry, geometry, f"{rwhere}.geometry")
                geometry = checked.as_dict() if checked else None
            sensors = []
            for k, x in enumerate(r.get("sensors") or []):
                sid = x.get("sensor_id") if isinstance(x, dict) else x
                sid = guard(check_name, sid, f"{rwhere}.sensors[{k}]")
                if sid:
                    sensors.append((sid, x.get("label") if isinstance(x, dict) else None))
            site["rooms"].append(
                {
                    "name": rname,
                    "timezone": rtz,
                    "kind": r.get("kind") or r.get("type"),
                    "external_id": str(r["id"]) if r.get("id") is not None else r.get("external_id"),
                    "geometry": geometry,
                    "sensors": sensors,
                    "modules": len(r.get("modules") or []),
                }
            )
        out.append(site)
    if errors:
        raise InvalidInput(errors)
    return out
