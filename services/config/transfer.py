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
