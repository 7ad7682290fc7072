"""In-process publish/subscribe: the coordinator that fans events out to pages, `/ws` clients and workers.

Each topic is a `nicegui.Event`. Subscribers registered from a page are removed with the page's client;
a subscriber that raises is logged and never breaks the publisher (ingestion keeps going).
Callbacks must be quick: anything slow goes to a queue or a task of the subscriber's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from nicegui import Event

from app.core.domain.timesteps import iso_ms


class Measurement(NamedTuple):
    """A stored reading, as published after its commit (a tuple: immutable and cheap to build in bulk)."""

    sensor_id: str
    site: str
    room: str
    room_id: int
    ts_ms: int
    values: dict[str, float]

    def as_message(self) -> dict[str, Any]:
        return {
            "sensor_id": self.sensor_id,
            "enseigne": self.site,
            "salle": self.room,
            "timestamp": iso_ms(self.ts_ms),
            "values": self.values,
        }


# WebSocket topic names (the seed's plural names) -> message type
TOPICS = {
    "measurements": "measurement",
    "predictions": "prediction",
    "actions": "action",
    "alerts": "alert",
    "module_states": "module_state",
}
_TOPIC_ALIASES = {**{t: t for t in TOPICS}, **{v: k for k, v in TOPICS.items()}, "modules": "module_states"}


def normalise_topic(name: str) -> str | None:
    """`measurement`, `measurements` -> `measurements`; unknown names -> None."""
    return _TOPIC_ALIASES.get(name.strip().lower())


@dataclass
class EventBus:
    """One Event per topic. Payloads: lists of Measurement for `measurements`, dicts for the others."""

    measurements: Event = field(default_factory=Event)
    predictions: Event = field(default_factory=Event)
    actions: Event = field(default_factory=Event)
    alerts: Event = field(default_factory=Event)
    module_states: Event = field(default_factory=Event)
    config_changed: Event = field(default_factory=Event)
    storage: Event = field(default_factory=Event)  # the time-series store's status dict, when it changes
    # a forecast says a room's metric will cross a preventive threshold (services/forecasting/preventive.py)
    forecast_crossings: Event = field(default_factory=Event)

    def topic(self, name: str) -> Event:
        return getattr(self, name)
