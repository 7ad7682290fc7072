"""What ingestion answers besides success: how a request ended (`IngestOutcome`) and why it was refused or
not stored (too large, storage unavailable, another site's room), for the API and MQTT to say."""

from __future__ import annotations

from dataclasses import dataclass


class BatchTooLarge(ValueError):
    pass


class IngestUnavailable(RuntimeError):
    """The readings were not stored (storage failed or the platform is stopping); the client should retry."""


@dataclass(slots=True)
class IngestOutcome:
    received: int
    stored: int
    duplicates: list[int]  # positions in the request of readings that were already stored
    first_ts_ms: int | None = None  # the time the request's first reading is stored under


class SiteRefused(Exception):
    """403: a reading would be stored in a room of another site than its device key's; nothing stored."""

    @classmethod
    def of(cls, index: int | None, sensor_id: str, key_site: str) -> SiteRefused:
        """The refusal of a request with a reading (at `index` of a batch) for another site, which is not
        named: the key's holder may not learn where another site's sensors are."""
        where = "the reading" if index is None else f"[{index}]"
        return cls(
            f"{where}: this key writes for site {key_site!r} only, and sensor {sensor_id!r} is not in a room "
            "of it; nothing was stored"
        )
