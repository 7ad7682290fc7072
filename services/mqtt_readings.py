"""Readings that MQTT sensors publish: the same ingestion as `POST /api/ingest`, with the same device keys.

MQTT has no request headers, so each reading carries its key in `api_key`. A key writes for its site only:
ingestion checks it where each reading would be stored, as for HTTP. A sensor topic
(`<prefix>/<site>/<room>/sensors/<id>`) names its room by slugs, for readings that leave `enseigne` and
`salle` out.
"""

from __future__ import annotations

from typing import Any

from app.core.domain.readings import FieldError, InvalidInput
from app.core.storage.modules import slug

from .config import ConfigService
from .device_keys import DeviceKeys, KeyRefused
from .devices import DeviceLink
from .ingestion import IngestionService, IngestUnavailable, SiteRefused
from .mqtt import MessageRejected


class MqttReadings:
    """The readings sensors publish on the device link (`<prefix>/<site>/<room>/sensors/<id>`), stored as
    the HTTP API stores them; it listens to the `link` it is given."""

    def __init__(
        self, *, ingestion: IngestionService, device_keys: DeviceKeys, config: ConfigService, link: DeviceLink
    ):
        self.ingestion, self.device_keys, self.config = ingestion, device_keys, config
        self._topic_rooms: dict[tuple[str, ...], tuple[str, str]] = {}
        link.listen_readings(self)

    async def receive(self, topic: str, payload: Any) -> None:
        """Store a message's readings (a reading or a list). Readings under one key are stored together or
        not at all; a message mixing keys is stored key by key. Raises MessageRejected with the reason."""
        items = payload if isinstance(payload, list) else [payload]
        by_key: dict[Any, list[dict[str, Any]]] = {}
        try:
            for item in items:
                key = item.pop("api_key", None)
                if "enseigne" not in item or "salle" not in item:
                    site, room = await self.room_of_topic(topic)
                    item.setdefault("enseigne", site)
                    item.setdefault("salle", room)
                by_key.setdefault(key, []).append(item)
            # one rate-limit token per key and message, not per reading
            grants = {
                key: await self.device_keys.authorize(key if isinstance(key, str) else None) for key in by_key
            }
            for key, readings in by_key.items():
                body = readings if isinstance(payload, list) else readings[0]
                await self.ingestion.ingest(body, source="mqtt", site=grants[key].site)
        except (KeyRefused, SiteRefused) as exc:
            raise MessageRejected(str(exc)) from None
        except (InvalidInput, IngestUnavailable) as exc:
            detail = exc.errors[0].as_dict() if isinstance(exc, InvalidInput) else str(exc)
            raise MessageRejected(str(detail)) from None

    async def room_of_topic(self, topic: str) -> tuple[str, str]:
        """(site, room) named by a sensor topic's slugs. Known rooms only: slugs cannot name a new room."""
        key = tuple(topic.split("/")[1:3])
        if key not in self._topic_rooms:  # a room added since: look again
            self._topic_rooms = {
                (slug(site["name"]), slug(room["name"])): (site["name"], room["name"])
                for site in await self.config.list_sites()
                for room in site["rooms"]
            }
        found = self._topic_rooms.get(key)
        if found is None:
            problem = f"no known room has the topic's names {'/'.join(key)}; send enseigne and salle"
            raise FieldError("salle", problem).as_error()
        return found
