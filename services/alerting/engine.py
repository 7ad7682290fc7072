"""The alerting engine: rules applied to readings as they are committed and sensors watched for silence.

The bus callback only queues the batch; one worker task evaluates the queue and writes alerts in a thread,
so ingestion never waits for alerting. A tick (`IAQ_ALERT_INTERVAL`) looks for sensors gone silent. Every
change of an alert is published on `bus.alerts` (`/ws` sends it as an `alert` message) and handed to the
notifiers. All state changes happen in one thread call at a time (a lock), so readings, ticks and the
operators' actions never interleave; the state is rebuilt from the database at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from app.core.bus import EventBus, Measurement
from app.core.domain.alerts import (
    Cadence,
    Rule,
    RuleState,
    is_open_ms,
    offline_since,
    rules_for_room,
    step,
)
from app.core.domain.readings import InvalidInput
from app.core.storage.alerts import RoomInfo, SqlAlertStore, alert_dict, rule_from_row

from ..errors import Conflict, NotFound

log = logging.getLogger(__name__)
Change = tuple[str, dict[str, Any]]  # (event: raised, acknowledged, resolved; the alert)


@dataclass(slots=True)
class _Watch:
    """One threshold rule watching one room, with what the hot loop needs at hand."""

    metric: str
    rule: Rule
    state: RuleState
    key: tuple[int, int]
    above: bool
    trigger: float
    room: RoomInfo


class AlertEngine:
    """The state and the worker of `AlertingService`; the operators' side is in `lifecycle.py`, the rules'
    in `rules.py`."""

    def __init__(
        self,
        *,
        store: SqlAlertStore,
        bus: EventBus,
        interval_s: float = 60.0,
        sensor_interval_s: float = 300.0,
        notifiers: list[Any] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.store, self.bus = store, bus
        self.interval_s = interval_s
        self.fallback_interval_ms = int(sensor_interval_s * 1000)
        self.notifiers = notifiers or []
        self.clock = clock
        self._rules: list[Rule] = []
        self._room_rules_cache: dict[int, list[Rule]] = {}
        self._plans: dict[int, list[tuple[str, list[_Watch]]]] = {}  # room -> its rules by metric
        self._rooms: dict[int, RoomInfo] = {}
        self._rooms_stale = False
        self._forgot_rooms = False
        self._states: dict[tuple[int, int], RuleState] = {}  # (rule, room)
        self._open: dict[tuple[int, int], int] = {}  # (rule, room) -> open alert id
        self._offline_open: dict[tuple[int, str], int] = {}  # (rule, sensor) -> open alert id
        self._dismissed: dict[tuple[int, str], int | None] = {}  # resolved by hand while still silent
        self._open_rooms: dict[int, tuple[int, str]] = {}  # open alert id -> (room, severity)
        self._snoozed: dict[int, int] = {}  # open alert id -> snoozed until (ms)
        self._cadence: dict[str, Cadence] = {}
        self._sensor_room: dict[str, int] = {}
        self._inbox: list[list[Measurement]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.evaluated = 0  # readings evaluated since start

    # -- start-up ----------------------------------------------------------------------------------------
    def load(self) -> None:
        """Read rules, rooms, open alerts and each sensor's last reading (blocking; at start-up)."""
        self._load_state()
        for sensor, (room_id, ts_ms) in self.store.sensor_last_times().items():
            self._cadence[sensor] = Cadence(last_ms=ts_ms)
            self._sensor_room[sensor] = room_id

    def _load_state(self) -> None:
        self._load_rules()
        self._rooms = self.store.rooms()
        self._plans = {}
        self._states, self._open, self._offline_open, self._open_rooms = {}, {}, {}, {}
        self._snoozed = {}
        for row in self.store.open_alerts():
            self._open_rooms[row.id] = (row.room_id, row.severity)
            if row.snoozed_until_ms:
                self._snoozed[row.id] = row.snoozed_until_ms
            if row.rule_id is None:
                continue
            if row.sensor_id is not None:
                self._offline_open[(row.rule_id, row.sensor_id)] = row.id
            else:
                self._open[(row.rule_id, row.room_id)] = row.id
                self._states[(row.rule_id, row.room_id)] = RuleState(active=True, peak=row.peak)

    def _load_rules(self) -> None:
        self._rules = [rule_from_row(row) for row in self.store.rules()]
        self._room_rules_cache, self._plans = {}, {}
        ids = {rule.id for rule in self._rules}
        self._states = {key: state for key, state in self._states.items() if key[0] in ids}

    def start(self) -> None:
        """Follow committed readings and configuration changes (opening hours, time zones, new rooms)."""
        self.bus.measurements.subscribe(self.on_measurements)
        self.bus.config_changed.subscribe(self._config_changed)

    def _config_changed(self) -> None:
        self._rooms_stale = True
        self._wake.set()  # the worker forgets deleted rooms at once (their alerts went with them)

    def on_measurements(self, batch: list[Measurement]) -> None:
        """On the event loop, for every committed batch: queue it, nothing else."""
        self._inbox.append(batch)
        self._wake.set()

    async def run(self) -> None:
        """The worker: evaluates queued readings as they come, and checks for silent sensors every tick."""
        next_tick = time.monotonic() + self.interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_tick - time.monotonic()))
            self._wake.clear()
            if self._rooms_stale:
                await self._locked(self._reload_rooms)
                if self._forgot_rooms:  # pages showing counts of the deleted rooms read them again
                    self._forgot_rooms = False
                    self.bus.config_changed.emit()
            if self._inbox:
                await self.process_pending()
            if time.monotonic() >= next_tick:
                await self.check_offline()
                next_tick = time.monotonic() + self.interval_s

    async def process_pending(self) -> None:
        self._wake.clear()
        batches, self._inbox = self._inbox, []
        if batches:
            await self._locked(self._evaluate, batches)

    async def check_offline(self) -> None:
        """The tick: sensors gone silent, and snoozes that ended (the pages count those alerts again)."""
        now_ms = int(self.clock() * 1000)
        await self._locked(self._check_offline, now_ms)
        await self._locked(self._snoozes_ended, now_ms)

    def _snoozes_ended(self, now_ms: int) -> list[Change]:
        ended = [alert_id for alert_id, until in self._snoozed.items() if 0 < until <= now_ms]
        changes: list[Change] = []
        if not ended:
            return changes
        with self.store.engine.begin() as conn:
            for alert_id in ended:
                self._snoozed.pop(alert_id, None)
                row = self.store.alert(conn, alert_id)
                if row is not None and row.state != "resolved":
                    changes.append(("snooze_ended", alert_dict(row)))
        return changes

    async def _locked(self, work: Callable[..., list[Change]], *args: Any) -> list[Change]:
        async with self._lock:
            try:
                changes = await asyncio.to_thread(work, *args)
            except (InvalidInput, NotFound, Conflict):
                raise
            except Exception:
                # what was written is unknown: start again from what the database holds
                log.exception("alerting failed; its state is reloaded from the database")
                await asyncio.to_thread(self._load_state)
                raise
        self._publish(changes)
        return changes

    def _publish(self, changes: list[Change]) -> None:
        for event, alert in changes:
            self.bus.alerts.emit({"event": event, **alert})
            for notifier in self.notifiers:
                try:
                    notifier.notify(event, alert)
                except Exception:  # a notifier must never stop alerting
                    log.exception("notifier %s failed", type(notifier).__name__)

    # -- evaluation (in a thread, under the lock) -------------------------------------------------------
    def _room(self, room_id: int) -> RoomInfo | None:
        room = self._rooms.get(room_id)
        if room is None or self._rooms_stale:
            self._reload_rooms()
            room = self._rooms.get(room_id)
        return room

    def _reload_rooms(self) -> list[Change]:
        """Read the rooms again and forget everything of those that were deleted: their alerts were deleted
        with them (the database cascades), so their counts, pending periods and open alerts in memory must go
        too, or a deleted room's alert would still be counted. A sensor that belonged to one is no longer
        watched for silence until it reports again."""
        self._rooms_stale = False
        self._rooms = rooms = self.store.rooms()
        self._room_rules_cache, self._plans = {}, {}
        gone = {room_id for room_id, _ in self._open_rooms.values() if room_id not in rooms}
        gone |= {room_id for _, room_id in self._states if room_id not in rooms}
        gone |= {room_id for room_id in self._sensor_room.values() if room_id not in rooms}
        if not gone:
            return []
        self._states = {key: state for key, state in self._states.items() if key[1] not in gone}
        self._open = {key: alert for key, alert in self._open.items() if key[1] not in gone}
        ended = {alert for alert, (room_id, _) in self._open_rooms.items() if room_id in gone}
        self._offline_open = {k: alert for k, alert in self._offline_open.items() if alert not in ended}
        self._open_rooms = {a: where for a, where in self._open_rooms.items() if a not in ended}
        silent = {sensor for sensor, room_id in self._sensor_room.items() if room_id in gone}
        self._sensor_room = {k: v for k, v in self._sensor_room.items() if k not in silent}
        self._cadence = {k: v for k, v in self._cadence.items() if k not in silent}
        log.info(
            "forgot the alert state of deleted rooms %s (%d open alerts ended)", sorted(gone), len(ended)
        )
        self._forgot_rooms = True
        return []

    def _rules_of(self, room: RoomInfo) -> list[Rule]:
        rules = self._room_rules_cache.get(room.room_id)
        if rules is None:
            rules = self._room_rules_cache[room.room_id] = rules_for_room(
                self._rules, room.room_id, room.site_id
            )
        return rules

    def _opened(self, row: Any) -> Change:
        self._open_rooms[row.id] = (row.room_id, row.severity)
        return ("raised", alert_dict(row))

    def _closed(self, row: Any) -> Change:
        self._open_rooms.pop(row.id, None)
        self._snoozed.pop(row.id, None)
        return ("resolved", alert_dict(row))

    def _plan(self, room_id: int) -> list[tuple[str, list[_Watch]]] | None:
        """What to check for a room's readings: its threshold rules with their states, grouped by metric
        (cached; rebuilt when rules, rooms or states are reloaded). None for a room unknown even after
        reloading the rooms."""
        plan = self._plans.get(room_id)
        if plan is None or self._rooms_stale:
            room = self._room(room_id)
            if room is None:
                return None
            by_metric: dict[str, list[_Watch]] = {}
            for rule in self._rules_of(room):
                if not rule.is_offline:
                    key = (rule.id, room_id)
                    state = self._states.get(key)
                    if state is None:
                        state = self._states[key] = RuleState()
                    by_metric.setdefault(rule.metric, []).append(
                        _Watch(rule.metric, rule, state, key, rule.direction == "above", rule.trigger, room)
                    )
            plan = self._plans[room_id] = list(by_metric.items())
        return plan

    def _evaluate(self, batches: list[list[Measurement]]) -> list[Change]:
        """Feeds the readings to the rules' state machines, room by room and rule by rule in time order (the
        rules of a room are independent of each other). A rule at rest whose readings all stay on the safe
        side of its trigger only notes the newest time: that is decided once per batch from the metric's
        extreme value, not per reading."""
        changes: list[Change] = []
        readings = [m for batch in batches for m in batch]
        readings.sort(key=lambda m: m.ts_ms)  # linear for batches already in order
        cadences, sensor_rooms = self._cadence, self._sensor_room
        by_room: dict[int, list[Measurement]] = {}
        with self.store.engine.begin() as conn:
            for m in readings:
                cadence = cadences.get(m.sensor_id)
                if cadence is None:
                    cadence = cadences[m.sensor_id] = Cadence()
                cadence.add(m.ts_ms)
                sensor_rooms[m.sensor_id] = m.room_id
                if self._offline_open or self._dismissed:
                    self._sensor_back(conn, m.sensor_id, m.ts_ms, changes)
                of_room = by_room.get(m.room_id)
                if of_room is None:
                    by_room[m.room_id] = [m]
                else:
                    of_room.append(m)
            for room_id, of_room in by_room.items():
                plan = self._plan(room_id)
                if plan:
                    for metric, watches in plan:
                        self._feed(conn, metric, watches, of_room, changes)
        self.evaluated += len(readings)
        return changes

    def _feed(
        self, conn: Connection, metric: str, watches: list[_Watch], of_room: list[Measurement], changes
    ) -> None:
        """One metric's readings of one room (in time order) to the rules watching that metric."""
        values = [m.values.get(metric) for m in of_room]
        if None in values:
            points = [(m.ts_ms, v) for m, v in zip(of_room, values, strict=True) if v is not None]
            if not points:
                return
            values = [v for _, v in points]
        else:
            points = None
        highest, lowest, newest = max(values), min(values), None
        for watch in watches:
            state = watch.state
            if (
                not state.active
                and state.pending_since_ms is None
                and (highest <= watch.trigger if watch.above else lowest >= watch.trigger)
            ):  # the common case, at rest and staying so: only the newest time moves
                if newest is None:
                    newest = points[-1][0] if points is not None else of_room[-1].ts_ms
                if state.last_ms is None or newest > state.last_ms:
                    state.last_ms = newest
                continue
            if points is None:
                points = list(zip([m.ts_ms for m in of_room], values, strict=True))
            above, trigger = watch.above, watch.trigger
            for ts, value in points:
                if (
                    not state.active
                    and state.pending_since_ms is None
                    and (value <= trigger if above else value >= trigger)
                    and (state.last_ms is None or ts > state.last_ms)
                ):  # at rest and staying so: skip the state machine's call
                    state.last_ms = ts
                    continue
                self._step(conn, watch, ts, value, changes)

    def _step(self, conn: Connection, watch: _Watch, ts: int, value: float, changes: list[Change]) -> None:
        rule, room = watch.rule, watch.room
        open_now = (
            is_open_ms(room.opening_hours, ts, ZoneInfo(room.timezone)) if rule.only_open_hours else True
        )
        change = step(rule, watch.state, ts, value, open_now=open_now)
        if change is None:
            return
        if change.kind == "raised":
            row = self.store.raise_alert(
                conn, rule, room.room_id, change.ts_ms, rule_name=rule.name, value=value, peak=change.peak
            )
            self._open[watch.key] = row.id
            changes.append(self._opened(row))
        elif (alert_id := self._open.pop(watch.key, None)) is not None:
            row = self.store.resolve(conn, alert_id, change.ts_ms, value=value, peak=change.peak)
            if row is not None:  # None: its room was deleted meanwhile, and the alert with it
                changes.append(self._closed(row))

    def _sensor_back(self, conn: Connection, sensor: str, ts_ms: int, changes: list[Change]) -> None:
        """A reading of a sensor resolves its offline alerts."""
        for key in [k for k in self._offline_open if k[1] == sensor]:
            row = self.store.resolve(
                conn, self._offline_open.pop(key), ts_ms, comment="the sensor reported again"
            )
            if row is not None:
                changes.append(self._closed(row))
        for key in [k for k in self._dismissed if k[1] == sensor]:
            del self._dismissed[key]

    def _check_offline(self, now_ms: int) -> list[Change]:
        changes: list[Change] = []
        if not any(rule.is_offline and rule.enabled for rule in self._rules):
            return changes
        with self.store.engine.begin() as conn:
            for sensor, cadence in self._cadence.items():
                room = self._room(self._sensor_room.get(sensor, -1))
                if room is None or cadence.last_ms is None:
                    continue
                for rule in self._rules_of(room):
                    key = (rule.id, sensor)
                    if not rule.is_offline or key in self._offline_open:
                        continue
                    if key in self._dismissed and self._dismissed[key] == cadence.last_ms:
                        continue  # resolved by hand while silent: not again until it has reported
                    expected = cadence.expected_ms(self.fallback_interval_ms)
                    since = offline_since(cadence.last_ms, expected, rule.trigger, now_ms)
                    if since is None:
                        continue
                    row = self.store.raise_alert(
                        conn, rule, room.room_id, since, rule_name=rule.name, sensor_id=sensor,
                        value=round((now_ms - cadence.last_ms) / 1000, 1),
                    )  # fmt: skip
                    self._offline_open[key] = row.id
                    changes.append(self._opened(row))
        return changes
