"""The device lane's key check, one call before a body is read (`device_grant`) and one after it is parsed
(`check_sites`). The key comes from `Authorization: Bearer KEY`, `X-API-Key: KEY`, or `?api_key=KEY` for
legacy devices that cannot set headers. The MQTT bridge calls `runtime.device_keys.authorize` itself."""

from __future__ import annotations

from urllib.parse import parse_qs

from app.auth.middleware import bearer_secret
from app.domain.readings import ReadingDraft
from app.runtime import Runtime
from services.device_keys import Grant, KeyRefused


def presented_key(scope: dict) -> str | None:
    headers = scope["headers"]
    key = bearer_secret(headers)
    if key:
        return key
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1").strip() or None
    if scope.get("query_string"):
        values = parse_qs(scope["query_string"].decode("latin-1")).get("api_key")
        return values[0] if values else None
    return None


async def device_grant(runtime: Runtime, scope: dict) -> Grant:
    """Who writes (raises KeyRefused: 401 unknown key, 429 over its rate)."""
    return await runtime.device_keys.grant(presented_key(scope))


def check_sites(runtime: Runtime, grant: Grant, drafts: list[ReadingDraft]) -> None:
    """A site's key writes only for that site; a reading that names no site counts for its sensor's."""
    if grant.site is None:
        return
    index = runtime.index
    for draft in drafts:
        site = draft.site
        if site is None:
            sensor = index.sensors.get(draft.sensor_id)
            room = index.rooms_by_id.get(sensor.room_id) if sensor and sensor.room_id is not None else None
            site = room.site.name if room else None
            if site is None:
                raise KeyRefused(403, f"sensor {draft.sensor_id!r} is unknown: name its site (enseigne)")
        if site != grant.site:
            raise KeyRefused(403, f"this key writes for site {grant.site!r}, not for {site!r}")
