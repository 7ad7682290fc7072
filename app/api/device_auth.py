"""The device lane's key check, before a body is read (`device_grant`); ingestion checks the key's site
where each reading would be stored. The key comes from `Authorization: Bearer KEY`, `X-API-Key: KEY`, or
`?api_key=KEY` for legacy devices that cannot set headers. The MQTT bridge calls
`runtime.device_keys.authorize` itself."""

from __future__ import annotations

from urllib.parse import parse_qs

from app.auth.middleware import bearer_secret
from app.runtime import Runtime
from services.device_keys import Grant


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
