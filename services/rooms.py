"""Finding a room by the names the API uses (`enseigne`, `salle`), with the errors a client can act on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db.models import Room, Site
from app.core.i18n import _

from .errors import NotFound


def room_row(s: Session, site: str, room: str, *columns: Any) -> Any:
    """`columns` of the room named `room` in the site named `site` (Room and Site may be joined on).
    Raises NotFound saying whether the site or the room is unknown."""
    row = s.execute(
        select(*columns)
        .select_from(Room)
        .join(Site, Room.site_id == Site.id)
        .where(Site.name == site, Room.name == room)
    ).first()
    if row is None:
        if s.scalar(select(Site.id).where(Site.name == site)) is None:
            raise NotFound(_("no site named {site!r}").format(site=site))
        raise NotFound(_("no room named {room!r} in site {site!r}").format(room=room, site=site))
    return row
