"""Demo sites fed by simulated rooms, so a fresh install has live data and history to show."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from services.datasets import iso_utc
from services.simulator.room_model import RoomModel

log = logging.getLogger(__name__)

Sink = Callable[[list[dict]], Awaitable[Any] | Any]

MAX_CHUNK_PAYLOADS = 1000
MAX_STEP_S = 300.0  # long gaps are walked in steps this size so schedules and events are not skipped
WARM_UP_S = 12 * 3600.0  # a new room is simulated this long before its first reading
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True, slots=True)
class RoomSpec:
    """A simulated room: names, sensor id and the few parameters that give it character."""

    name: str
    sensor_id: str
    profile: str
    volume_m3: float
    capacity: int
    ach_per_h: float
    night_ach_per_h: float = 0.3  # ventilation off outside HVAC hours: infiltration only

    def build_model(self, tz: str, seed: int | None) -> RoomModel:
        """The physical model of this room in a site of time zone `tz`."""
        return RoomModel(
            volume_m3=self.volume_m3,
            capacity=self.capacity,
            profile=self.profile,
            tz=tz,
            ach_per_h=self.ach_per_h,
            night_ach_per_h=self.night_ach_per_h,
            seed=seed,
        )


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """A site (the platform's "enseigne") with its time zone and rooms."""

    name: str
    tz: str
    rooms: tuple[RoomSpec, ...]


DEMO_SITES: tuple[SiteSpec, ...] = (
    SiteSpec(
        "Head office",
        "Europe/Paris",
        (
            RoomSpec("Open space", "ho-openspace-1", "office", volume_m3=300.0, capacity=20, ach_per_h=1.5),
            RoomSpec("Meeting room", "ho-meeting-1", "meeting", volume_m3=60.0, capacity=10, ach_per_h=2.0),
        ),
    ),
    SiteSpec(
        "Lyon store",
        "Europe/Paris",
        (RoomSpec("Sales floor", "ly-salesfloor-1", "retail", volume_m3=600.0, capacity=30, ach_per_h=1.2),),
    ),
)


def demo_sites(room_count: int) -> tuple[SiteSpec, ...]:
    """The first ``room_count`` demo rooms; beyond three, extra offices "Room 4"... alternate sites."""
    if room_count < 1:
        raise ValueError("room_count must be >= 1")
    placed = [(index, room) for index, site in enumerate(DEMO_SITES) for room in site.rooms][:room_count]
    for number in range(len(placed) + 1, room_count + 1):
        index = number % len(DEMO_SITES)
        sensor_id = f"{('ho', 'ly')[index]}-room{number}-1"
        # Small offices of varied sizes, so the extra rooms do not all draw the same curve.
        spec = RoomSpec(
            f"Room {number}",
            sensor_id,
            "office",
            volume_m3=80.0 + 20.0 * (number % 5),
            capacity=4 + number % 6,
            ach_per_h=1.5,
        )
        placed.append((index, spec))
    sites = []
    for index, site in enumerate(DEMO_SITES):
        rooms = tuple(room for at, room in placed if at == index)
        if rooms:
            sites.append(SiteSpec(site.name, site.tz, rooms))
    return tuple(sites)


class SimulatedRoom(NamedTuple):
    """A room of the simulation; set ``model.ventilation_on`` etc. to act on it."""

    site: str
    room: str
    sensor_id: str
    model: RoomModel


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class DemoSimulator:
    """Steps the demo rooms and pushes their readings, in the ingest format, to ``sink``.

    ``sink`` is ``async def sink(payloads: list[dict])`` (a plain function works too).
    ``state`` is one of "idle", "running", "backing-off", "stopped" and, with
    ``last_error``, ``sent_count`` and ``last_sent_at``, feeds the platform's health page.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        interval_s: float = 5.0,
        sites: Sequence[SiteSpec] = DEMO_SITES,
        seed: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.interval_s = interval_s
        self.state = "idle"
        self.last_error: str | None = None
        self.sent_count = 0
        self.last_sent_at: datetime | None = None
        self._sink = sink
        self._clock = clock
        self._stop = asyncio.Event()
        self._last_step: dict[str, datetime] = {}
        seeds = random.Random(seed)  # one seed per room: reproducible, yet rooms differ
        self._rooms = [
            SimulatedRoom(
                site.name,
                spec.name,
                spec.sensor_id,
                spec.build_model(site.tz, seeds.randrange(2**32)),
            )
            for site in sites
            for spec in site.rooms
        ]

    @property
    def rooms(self) -> list[SimulatedRoom]:
        """The simulated rooms as (site, room, sensor_id, model)."""
        return list(self._rooms)

    def tick(self, now: datetime | None = None) -> list[dict]:
        """Advance every room to ``now`` (default: the clock) and return one payload per room."""
        now = self._clock() if now is None else now
        payloads = (self._advance(room, now) for room in self._rooms)
        return [payload for payload in payloads if payload is not None]

    async def backfill(self, hours: float = 24, step_s: float = 60) -> int:
        """Simulate the last ``hours`` up to now and send them in chunks; return how many were accepted.

        Stamps sit on a ``step_s`` grid ending at or just before now. A failing chunk is
        logged and skipped so the live loop can still start.
        """
        if hours <= 0 or step_s <= 0:
            raise ValueError("hours and step_s must be > 0")
        now = self._clock()
        end = datetime.fromtimestamp(now.timestamp() // step_s * step_s, UTC)
        steps = int(hours * 3600 // step_s)
        start = end - timedelta(seconds=steps * step_s)
        for room in self._rooms:
            if room.sensor_id not in self._last_step:
                self._last_step[room.sensor_id] = self._warm_up(room.model, start)
        accepted, chunk = 0, []
        for index in range(1, steps + 1):
            chunk.extend(self.tick(start + timedelta(seconds=index * step_s)))
            while len(chunk) >= MAX_CHUNK_PAYLOADS:
                accepted += await self._send_logged(chunk[:MAX_CHUNK_PAYLOADS])
                chunk = chunk[MAX_CHUNK_PAYLOADS:]
                await asyncio.sleep(0)  # let the event loop serve others between chunks
        if chunk:
            accepted += await self._send_logged(chunk)
        return accepted

    async def run(self, *, rounds: int | None = None) -> None:
        """Send one reading per room every ``interval_s`` until cancelled, :meth:`stop`, or ``rounds``.

        Sink failures never end the loop: they are logged, kept in ``last_error``, and the
        next round waits longer (doubling up to a minute). Cancellation propagates.
        """
        self._stop.clear()
        self.state = "running"
        failures = done = 0
        try:
            while rounds is None or done < rounds:
                payloads = self.tick()
                try:
                    await self._send(payloads)
                except Exception as exc:  # any sink failure: report and keep simulating
                    failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self.state = "backing-off"
                    delay = min(MAX_BACKOFF_S, self.interval_s * 2**failures)
                    then = "stopping" if self._stop.is_set() else f"next try in {delay:.1f} s"
                    log.warning("demo sink failed (%s); %s", self.last_error, then)
                else:
                    failures, delay = 0, self.interval_s
                    self.state = "running"
                done += 1
                if (rounds is not None and done >= rounds) or await self._stopped_within(delay):
                    break
        finally:
            self.state = "stopped"

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current round."""
        self._stop.set()

    async def _stopped_within(self, delay_s: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), delay_s)
        except TimeoutError:
            return False
        return True

    async def _send(self, payloads: list[dict]) -> None:
        if not payloads:
            return
        result = self._sink(payloads)
        if inspect.isawaitable(result):
            await result
        self.sent_count += len(payloads)
        self.last_sent_at = self._clock()

    async def _send_logged(self, payloads: list[dict]) -> int:
        try:
            await self._send(payloads)
        except Exception as exc:  # backfill is best effort; the live loop matters more
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("demo backfill chunk of %d readings failed: %s", len(payloads), self.last_error)
            return 0
        return len(payloads)

    def _warm_up(self, model: RoomModel, until: datetime) -> datetime:
        """Run a fresh model for a while so its first reading is not an artificial start state."""
        when = until - timedelta(seconds=WARM_UP_S)
        while when < until:
            when += timedelta(seconds=MAX_STEP_S)
            model.step(when, MAX_STEP_S)
        return when

    def _advance(self, room: SimulatedRoom, now: datetime) -> dict | None:
        last = self._last_step.get(room.sensor_id)
        if last is None or (now - last).total_seconds() > WARM_UP_S:
            last = self._warm_up(room.model, now - timedelta(seconds=MAX_STEP_S))  # new, or asleep for hours
        if now <= last:
            return None  # clock went backwards: skip rather than send a stamp out of order
        while (now - last).total_seconds() > MAX_STEP_S:
            last += timedelta(seconds=MAX_STEP_S)
            room.model.step(last, MAX_STEP_S)
        values = room.model.step(now, (now - last).total_seconds())
        self._last_step[room.sensor_id] = now
        return {
            "sensor_id": room.sensor_id,
            "enseigne": room.site,
            "salle": room.room,
            "timestamp": iso_utc(now),
            "values": values,
        }
