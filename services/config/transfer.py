"""The configuration as a file: export sites, rooms and sensor assignments as JSON, and import such a file
(or the original product's `config.json`) as one transaction that names every invalid field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.core.db.models import Room, Sensor, Site
from app.core.domain.geometry import check_geometry
from app.core.domain.readings import FieldError, InvalidInput
from app.core.domain.validation import check_name, check_opening_hours, check_timezone
from app.core.i18n import _

from .crud import ConfigCrud

EXPORT_FORMAT = "iaqverse-config"


class ConfigTransfer(ConfigCrud):
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


# The accepted shapes: (list path, site name key, room name key, rooms key)
_ORIGINAL = ("lieux.enseignes", "nom", "nom", "pieces")  # the original product's assets/config.json
_EXPORT = ("sites", "name", "name", "rooms")  # IAQverse's own export


class _Import:
    """Reads an import document into [{name, timezone, address, opening_hours, external_id, rooms: [...]}],
    collecting every invalid field (an import is taken whole or not at all)."""

    def __init__(self, shape: tuple[str, str, str, str], default_tz: str) -> None:
        self.base, self.site_key, self.room_key, self.rooms_key = shape
        self.default_tz = default_tz
        self.errors: list[FieldError] = []

    def guard(self, fn, *args):
        try:
            return fn(*args)
        except InvalidInput as exc:
            self.errors.extend(exc.errors)
            return None

    def sites(self, items: list[Any]) -> list[dict[str, Any]]:
        out, seen = [], set()
        for i, item in enumerate(items):
            where = f"{self.base}[{i}]"
            if not isinstance(item, dict):
                self.errors.append(FieldError(where, _("must be an object")))
                continue
            name = self.guard(check_name, item.get(self.site_key), f"{where}.{self.site_key}")
            if name in seen:
                self.errors.append(
                    FieldError(f"{where}.{self.site_key}", _("site {name!r} appears twice").format(name=name))
                )
            seen.add(name)
            out.append(self.site(name, item, where))
        return out

    def site(self, name: str | None, item: dict[str, Any], where: str) -> dict[str, Any]:
        tz = (
            self.guard(check_timezone, item["timezone"], f"{where}.timezone")
            if item.get("timezone")
            else None
        )
        hours = self.guard(check_opening_hours, item.get("opening_hours"), f"{where}.opening_hours")
        rooms = item.get(self.rooms_key) or []
        if not isinstance(rooms, list):
            self.errors.append(FieldError(f"{where}.{self.rooms_key}", _("must be a list")))
            rooms = []
        out = []
        seen: set[str] = set()
        for j, room in enumerate(rooms):
            rwhere = f"{where}.{self.rooms_key}[{j}]"
            if not isinstance(room, dict):
                self.errors.append(FieldError(rwhere, _("must be an object")))
                continue
            rname = self.guard(check_name, room.get(self.room_key), f"{rwhere}.{self.room_key}")
            if rname in seen:
                self.errors.append(
                    FieldError(
                        f"{rwhere}.{self.room_key}",
                        _("room {rname!r} appears twice in this site").format(rname=rname),
                    )
                )
            seen.add(rname)
            out.append({"name": rname, **self.room(room, rwhere)})
        return {
            "name": name,
            "timezone": tz or self.default_tz,
            "opening_hours": hours,
            "address": item.get("address") or item.get("adresse"),
            "external_id": str(item["id"]) if item.get("id") is not None else item.get("external_id"),
            "rooms": out,
        }

    def room(self, room: dict[str, Any], where: str) -> dict[str, Any]:
        """A room's fields but its name (checked by `site`, with the duplicates)."""
        tz = (
            self.guard(check_timezone, room["timezone"], f"{where}.timezone")
            if room.get("timezone")
            else None
        )
        geometry = room.get("geometry")
        if geometry is not None:
            checked = self.guard(check_geometry, geometry, f"{where}.geometry")
            geometry = checked.as_dict() if checked else None
        sensors = []
        for k, x in enumerate(room.get("sensors") or []):
            sid = self.guard(
                check_name, x.get("sensor_id") if isinstance(x, dict) else x, f"{where}.sensors[{k}]"
            )
            if sid:
                sensors.append((sid, x.get("label") if isinstance(x, dict) else None))
        return {
            "timezone": tz,
            "kind": room.get("kind") or room.get("type"),
            "external_id": str(room["id"]) if room.get("id") is not None else room.get("external_id"),
            "geometry": geometry,
            "sensors": sensors,
            "modules": len(room.get("modules") or []),
        }


def _normalise_import(doc: Any, default_tz: str) -> list[dict[str, Any]]:
    """Both accepted shapes -> [{name, timezone, address, opening_hours, external_id, rooms: [...]}]."""
    if not isinstance(doc, dict):
        raise FieldError("body", _("must be a JSON object")).as_error()
    if isinstance(doc.get("lieux"), dict):
        items, shape = doc["lieux"].get("enseignes"), _ORIGINAL
    elif "sites" in doc:
        items, shape = doc["sites"], _EXPORT
    else:
        raise FieldError(
            "body",
            _(
                "expected a 'sites' list (IAQverse export) or 'lieux.enseignes' (original IAQverse "
                "config.json)"
            ),
        ).as_error()
    if not isinstance(items, list):
        raise FieldError(shape[0], _("must be a list")).as_error()
    reader = _Import(shape, default_tz)
    out = reader.sites(items)
    if reader.errors:
        raise InvalidInput(reader.errors)
    return out
