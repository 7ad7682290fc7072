"""The IAQ score of rooms: now (from the latest values), as a stored series, and its threshold overrides.

Thresholds resolve default (or the deployment's, given to the constructor) → site override → room override.
The recorder follows `bus.measurements`: it keeps each room's latest values in memory, scores a room when a
reading is at least `interval_s` newer than the room's last stored score, and writes the rows in batches from
a worker thread. It publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.bus import EventBus, Measurement
from app.core.db.models import Room, Site
from app.core.domain.metrics import ALL_KNOWN
from app.core.domain.readings import InvalidInput
from app.core.domain.score import (
    DEFAULT_THRESHOLDS,
    REFERENCES,
    RoomScore,
    Thresholds,
    room_score,
    split_stale,
)
from app.core.domain.timesteps import iso_ms, to_ms
from app.core.i18n import _
from app.core.storage.base import TimeSeriesStore
from app.core.storage.scores import ScoreRow, SqlScoreStore

from .errors import NotFound
from .rooms import room_row

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _RoomState:
    """What the recorder knows of a room: latest value and time per scored metric, last stored score."""

    site: str | None
    values: dict[str, tuple[float, int]] = field(default_factory=dict)
    newest_ms: int = 0
    stored_ms: int | None = None


@dataclass(slots=True)
class _Overrides:
    sites: dict[int, dict | None] = field(default_factory=dict)
    site_ids: dict[str, int] = field(default_factory=dict)  # site name -> id
    rooms: dict[int, tuple[int, dict | None]] = field(default_factory=dict)  # room -> site id, override


class ScoringService:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        store: TimeSeriesStore,
        scores: SqlScoreStore,
        bus: EventBus,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        stale_after_s: float = 3600.0,
        interval_s: float = 60.0,
        flush_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ):
        self.sessions, self.store, self.scores, self.bus = sessions, store, scores, bus
        self.thresholds = thresholds
        self.stale_after_ms = int(stale_after_s * 1000)
        self.interval_ms = int(interval_s * 1000)
        self.flush_interval_s = flush_interval_s
        self.clock = clock
        self._overrides = _Overrides()
        self._resolved: dict[tuple[int | None, str | None], Thresholds] = {}
        self._reloading = asyncio.Lock()  # one reload at a time: each applies what it read, in order
        self._rooms: dict[int, _RoomState] = {}
        self._pending: list[ScoreRow] = []
        self._wake = asyncio.Event()
        self.written = 0  # rows stored since start, for tests and /metrics later

    # -- thresholds ----------------------------------------------------------------------------------------
    def load(self) -> None:
        """Read the overrides (blocking; at start-up). Afterwards `bus.config_changed` keeps them current."""
        self._apply(self._read_overrides())
        self.bus.config_changed.subscribe(self.reload)

    async def reload(self) -> None:
        """Read the overrides again and apply them before returning. Reloads run one after the other, so
        a caller that changed an override sees it applied when its reload returns (the previous way, where
        a newer concurrent reload's result won, let a change's own event fire before it was applied)."""
        async with self._reloading:
            self._apply(await asyncio.to_thread(self._read_overrides))

    def _read_overrides(self) -> _Overrides:
        out = _Overrides()
        with self.sessions() as s:
            for site_id, name, override in s.execute(select(Site.id, Site.name, Site.score_thresholds)):
                out.sites[site_id] = override
                out.site_ids[name] = site_id
            for room_id, site_id, override in s.execute(select(Room.id, Room.site_id, Room.score_thresholds)):
                out.rooms[room_id] = (site_id, override)
        return out

    def _apply(self, overrides: _Overrides) -> None:
        self._overrides = overrides
        self._resolved = {}

    def _resolve(self, site_override: dict | None, room_override: dict | None, where: str) -> Thresholds:
        thresholds = self.thresholds
        for override, level in ((site_override, "site"), (room_override, "room")):
            try:
                thresholds = thresholds.merged(override)
            except InvalidInput as exc:  # validated when saved; may clash with a later change above it
                log.warning("score thresholds of the %s of %s are ignored: %s", level, where, exc)
        return thresholds

    def thresholds_for(self, room_id: int | None, site: str | None = None) -> Thresholds:
        """The thresholds in force for a room, from memory (no I/O: pages call this for every tile).

        A room registered a moment ago may not be loaded yet; the site, known by name, still applies."""
        key = (room_id, site)
        cached = self._resolved.get(key)
        if cached is None:
            o = self._overrides
            site_id, room_override = (
                o.rooms.get(room_id, (None, None)) if room_id is not None else (None, None)
            )
            if site_id is None and site is not None:
                site_id = o.site_ids.get(site)
            cached = self._resolve(o.sites.get(site_id), room_override, f"room {room_id}")
            self._resolved[key] = cached
        return cached

    async def site_thresholds(self, site_id: int) -> dict[str, Any]:
        return await asyncio.to_thread(self._site_thresholds, site_id, None, False)

    async def set_site_thresholds(self, site_id: int, override: Any) -> dict[str, Any]:
        """Replace a site's override (`{}` or None clears it); refused whole, naming the field, if invalid."""
        return await self._changed(await asyncio.to_thread(self._site_thresholds, site_id, override, True))

    async def room_thresholds(self, room_id: int) -> dict[str, Any]:
        return await asyncio.to_thread(self._room_thresholds, room_id, None, False)

    async def set_room_thresholds(self, room_id: int, override: Any) -> dict[str, Any]:
        """Replace a room's override, which applies over its site's."""
        return await self._changed(await asyncio.to_thread(self._room_thresholds, room_id, override, True))

    async def _changed(self, answer: dict[str, Any]) -> dict[str, Any]:
        await self.reload()  # before pages hear of it, so that they redraw with the new thresholds
        self.bus.config_changed.emit()
        return answer

    def _site_thresholds(self, site_id: int, override: Any, write: bool) -> dict[str, Any]:
        with self.sessions.begin() as s:
            site = s.get(Site, site_id)
            if site is None:
                raise NotFound(_("site {site_id} does not exist").format(site_id=site_id))
            if write:
                override = None if override == {} else override
                self.thresholds.merged(override)  # raises InvalidInput naming the field
                site.score_thresholds = override
            effective = self._resolve(site.score_thresholds, None, f"site {site.name!r}")
            return {
                "site_id": site.id,
                "name": site.name,
                "override": site.score_thresholds,
                "effective": effective.as_dict(),
            }

    def _room_thresholds(self, room_id: int, override: Any, write: bool) -> dict[str, Any]:
        with self.sessions.begin() as s:
            room = s.get(Room, room_id)
            if room is None:
                raise NotFound(_("room {room_id} does not exist").format(room_id=room_id))
            if write:
                override = None if override == {} else override
                # checked over the site's thresholds: the room's lists must fit with what it inherits
                self._resolve(room.site.score_thresholds, None, room.name).merged(override)
                room.score_thresholds = override
            effective = self._resolve(
                room.site.score_thresholds, room.score_thresholds, f"room {room.name!r}"
            )
            return {
                "room_id": room.id,
                "name": room.name,
                "site": room.site.name,
                "site_override": room.site.score_thresholds,
                "override": room.score_thresholds,
                "effective": effective.as_dict(),
            }

    # -- the score now ------------------------------------------------------------------------------------
    async def current(self, site: str, room: str) -> dict[str, Any]:
        """The room's score from its latest values. Values older than the stale limit are left out and
        listed; without any recent value there is no score (null), never a made-up one."""
        return await asyncio.to_thread(self._current, site, room, int(self.clock() * 1000))

    def _room_row(self, s: Session, site: str, room: str):
        return room_row(s, site, room, Room.id, Room.score_thresholds, Site.score_thresholds)

    def _current(self, site: str, room: str, now_ms: int) -> dict[str, Any]:
        with self.sessions() as s:
            room_id, room_override, site_override = self._room_row(s, site, room)
        thresholds = self._resolve(site_override, room_override, f"room {room!r} of {site!r}")
        latest = {
            v.metric: (v.value, v.ts_ms)
            for v in self.store.latest([room_id])
            if v.metric in thresholds.scales
        }
        fresh, stale = split_stale(latest, now_ms, self.stale_after_ms)
        result = room_score(fresh, thresholds)
        newest_ms = max((latest[m][1] for m in fresh), default=None)
        return {
            "enseigne": site,
            "salle": room,
            **score_body(result),
            "timestamp": iso_ms(newest_ms) if newest_ms is not None else None,
            "stale": bool(stale),
            "stale_metrics": {metric: iso_ms(ts) for metric, ts in stale.items()},
            "message": self._message(result, latest, stale),
            "references": {
                metric: REFERENCES[metric] for metric in thresholds.scales if metric in REFERENCES
            },
        }

    def _message(self, result: RoomScore | None, latest: dict, stale: dict[str, int]) -> str | None:
        limit = f"{self.stale_after_ms / 60_000:g} min"
        if not latest:
            return "no readings of a scored metric yet"
        if result is None:
            return f"no reading in the last {limit}: the score would be out of date"
        if stale:
            return f"left out, no reading in the last {limit}: {', '.join(sorted(stale))}"
        return None

    async def history(self, site: str, room: str, hours: float) -> dict[str, Any]:
        """Stored scores of the last `hours`, oldest first."""
        return await asyncio.to_thread(self._history, site, room, hours, datetime.now(UTC))

    def _history(self, site: str, room: str, hours: float, now: datetime) -> dict[str, Any]:
        with self.sessions() as s:
            room_id = self._room_row(s, site, room)[0]
        start = now - timedelta(hours=hours)
        rows = self.scores.history(room_id, to_ms(start), to_ms(now + timedelta(minutes=5)))
        return {
            "enseigne": site,
            "salle": room,
            "start": iso_ms(to_ms(start)),
            "count": len(rows),
            "data": [
                {"timestamp": iso_ms(r.ts_ms), "score": r.score, "level": r.level, "driver": r.driver}
                for r in rows
            ],
        }

    # -- the recorder ---------------------------------------------------------------------------------------
    def start_recording(self) -> None:
        """Seed the rooms' state from the store (blocking; at start-up) and follow `bus.measurements`."""
        scored = set(self.thresholds.scales)
        stored = self.scores.last_times()
        for v in self.store.latest():
            if v.metric in scored:
                state = self._rooms.setdefault(v.room_id, _RoomState(None))
                state.values[v.metric] = (v.value, v.ts_ms)
                state.newest_ms = max(state.newest_ms, v.ts_ms)
        for room_id, ts_ms in stored.items():
            self._rooms.setdefault(room_id, _RoomState(None)).stored_ms = ts_ms
        self.bus.measurements.subscribe(self.on_measurements)

    def on_measurements(self, batch: list[Measurement]) -> None:
        """Called on the event loop for every committed batch: memory only; rows go to the writer."""
        scored = self.thresholds.scales
        interval_ms, rooms = self.interval_ms, self._rooms
        for m in batch:
            state = rooms.get(m.room_id)
            if state is None:
                state = rooms[m.room_id] = _RoomState(m.site)
            elif state.site is None:
                state.site = m.site
            ts = m.ts_ms
            for metric, value in m.values.items():
                if metric in scored:
                    old = state.values.get(metric)
                    if old is None or ts >= old[1]:
                        state.values[metric] = (value, ts)
            if ts < state.newest_ms:
                continue  # a late reading: it changes no latest value the score is computed from
            state.newest_ms = ts
            if state.stored_ms is not None and ts < state.stored_ms + interval_ms:
                continue
            fresh, _stale = split_stale(state.values, ts, self.stale_after_ms)
            result = room_score(fresh, self.thresholds_for(m.room_id, state.site))
            if result is not None:
                self._pending.append(
                    ScoreRow(m.room_id, ts, result.score, result.level, result.driver_metric)
                )
                state.stored_ms = ts
        if self._pending:
            self._wake.set()

    async def run_writer(self) -> None:
        """The worker: writes what the recorder collected, one transaction per `flush_interval_s` at most."""
        while True:
            await self._wake.wait()
            await self.flush()
            await asyncio.sleep(self.flush_interval_s)  # readings of the next moments join one batch

    async def flush(self) -> None:
        self._wake.clear()
        rows, self._pending = self._pending, []
        if rows:
            try:
                self.written += await asyncio.to_thread(self.scores.write, rows)
            except Exception:
                log.exception("could not store %d room scores; they are dropped", len(rows))


def score_body(result: RoomScore | None) -> dict[str, Any]:
    """score, level, driver and sub-scores as the API shows them (null without a score)."""
    if result is None:
        return {"score": None, "level": None, "driver": None, "sub_scores": {}}
    return {
        "score": result.score,
        "level": result.level,
        "driver": result.driver_metric,
        "sub_scores": {
            metric: {
                "score": sub.score,
                "level": sub.level,
                "value": sub.value,
                "unit": ALL_KNOWN[metric].unit if metric in ALL_KNOWN else None,
            }
            for metric, sub in result.sub_scores.items()
        },
    }
