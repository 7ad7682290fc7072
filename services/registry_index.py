"""An in-memory copy of the registry (sites, rooms, sensors) for the ingestion writer.

Ingestion resolves names to ids for every reading; reading them from the database each time would cost
more than storing the reading. The copy is owned by the writer thread, reloaded whole after any
configuration change (`mark_stale`), and extended when ingestion registers new entities.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select

from app.core.db.models import Room, Sensor, Site


@dataclass(slots=True)
class SiteInfo:
    id: int
    name: str
    zone: ZoneInfo


@dataclass(slots=True)
class RoomInfo:
    id: int
    name: str
    site: SiteInfo
    zone: ZoneInfo


@dataclass(slots=True)
class SensorInfo:
    pk: int
    sensor_id: str
    room_id: int | None


class RegistryIndex:
    def __init__(self, default_timezone: str):
        self.default_zone = ZoneInfo(default_timezone)
        self._stale = True
        self.registered = False  # set when ingestion registered something; the writer announces it
        self.sites: dict[str, SiteInfo] = {}
        self.rooms: dict[tuple[int, str], RoomInfo] = {}
        self.rooms_by_id: dict[int, RoomInfo] = {}
        self.sensors: dict[str, SensorInfo] = {}

    def mark_stale(self) -> None:
        """Called after any configuration change; the next ingest reloads the registry."""
        self._stale = True

    def ensure_fresh(self, conn: Connection) -> None:
        if not self._stale:
            return
        self._stale = False  # before loading: a change during the load marks it stale again
        sites = {
            row.id: SiteInfo(row.id, row.name, _zone(row.timezone, self.default_zone))
            for row in conn.execute(select(Site.id, Site.name, Site.timezone))
        }
        rooms: dict[tuple[int, str], RoomInfo] = {}
        by_id: dict[int, RoomInfo] = {}
        for row in conn.execute(select(Room.id, Room.site_id, Room.name, Room.timezone)):
            site = sites[row.site_id]
            info = RoomInfo(
                row.id, row.name, site, _zone(row.timezone, site.zone) if row.timezone else site.zone
            )
            rooms[(row.site_id, row.name)] = by_id[row.id] = info
        sensors = {
            row.sensor_id: SensorInfo(row.id, row.sensor_id, row.room_id)
            for row in conn.execute(select(Sensor.id, Sensor.sensor_id, Sensor.room_id))
        }
        self.sites = {s.name: s for s in sites.values()}
        self.rooms, self.rooms_by_id, self.sensors = rooms, by_id, sensors

    # -- registration on first sight (inside the ingest transaction)
    def add_site(self, conn: Connection, name: str) -> SiteInfo:
        zone_name = self.default_zone.key
        pk = conn.execute(insert(Site).values(name=name, timezone=zone_name).returning(Site.id)).scalar_one()
        info = self.sites[name] = SiteInfo(pk, name, self.default_zone)
        self.registered = True
        return info

    def add_room(self, conn: Connection, site: SiteInfo, name: str) -> RoomInfo:
        pk = conn.execute(insert(Room).values(site_id=site.id, name=name).returning(Room.id)).scalar_one()
        info = self.rooms[(site.id, name)] = self.rooms_by_id[pk] = RoomInfo(pk, name, site, site.zone)
        self.registered = True
        return info

    def add_sensor(self, conn: Connection, sensor_id: str, room: RoomInfo) -> SensorInfo:
        pk = conn.execute(
            insert(Sensor).values(sensor_id=sensor_id, room_id=room.id).returning(Sensor.id)
        ).scalar_one()
        info = self.sensors[sensor_id] = SensorInfo(pk, sensor_id, room.id)
        self.registered = True
        return info

    def assign_sensor(self, conn: Connection, sensor: SensorInfo, room: RoomInfo) -> None:
        conn.execute(Sensor.__table__.update().where(Sensor.id == sensor.pk).values(room_id=room.id))
        sensor.room_id = room.id
        self.registered = True


def _zone(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else fallback
    except (KeyError, ValueError):
        return fallback
