"""The drainer of the durable outboxes: sends waiting readings to InfluxDB in batches, oldest first, then
the scores, forecasts and actions waiting in the second outbox (`app/core/storage/influx_series.py`), alike.

A batch leaves the outbox only once InfluxDB confirmed it (204). While InfluxDB cannot be reached the drainer
waits with exponential backoff (to `IAQ_OUTBOX_BACKOFF_MAX`) and tries again; ingestion meanwhile keeps
committing to the outbox. A batch InfluxDB refuses (400: a malformed or conflicting point) is split until
the refused points are found; those stay in the outbox marked with the error, the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import httpx

from app.core.bus import EventBus

from .influx import InfluxTimeSeriesStore
from .influx_http import InfluxAuthError, InfluxError

log = logging.getLogger(__name__)
PRUNE_EVERY_S = 600.0


@dataclass(slots=True)
class _Outage:
    since: float  # monotonic seconds
    back_at: float | None = None
    sent: int = 0


class OutboxDrainer:
    def __init__(
        self,
        store: InfluxTimeSeriesStore,
        *,
        batch: int = 5000,
        poll_s: float = 0.5,
        backoff_s: float = 0.5,
        backoff_max_s: float = 60.0,
        bus: EventBus | None = None,
    ):
        self.store, self.batch, self.poll_s, self.bus = store, batch, poll_s, bus
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.sent = 0  # points InfluxDB confirmed (readings and the other series)
        self.queues = [store, store.series]  # each: next_batch, confirm, refuse, count_waiting, waiting
        self._database_ready = False
        self._wake = asyncio.Event()
        self._outage: _Outage | None = None  # since InfluxDB could not be reached, and what was sent since
        self._pruned_at = float("-inf")

    def start(self) -> None:
        """Look at the outbox as soon as readings are committed, not at the next poll."""
        if self.bus is not None:
            self.bus.measurements.subscribe(lambda _: self.wake())

    def wake(self) -> None:
        """New readings were committed: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Drain until cancelled (the worker)."""
        for queue in self.queues:
            await asyncio.to_thread(queue.count_waiting)
        delay = self.backoff_s
        async with self.store.http.async_client() as client:
            while True:
                try:
                    before = self.sent
                    sent = await self.drain_once(client)
                    delay = self.backoff_s
                    self._recovering(self.sent - before, sent)
                except InfluxError as exc:
                    self.store.reachable = not exc.unreachable
                    self.store.last_error = str(exc)[:300]
                    if self._outage is None:
                        self._outage = _Outage(time.monotonic())
                        log.warning("InfluxDB cannot take readings (%s); they wait in the outbox, next "
                                    "attempt in %.1f s", exc, delay)  # fmt: skip
                    else:
                        log.info(
                            "InfluxDB still cannot take readings (%s); next attempt in %.1f s", exc, delay
                        )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.backoff_max_s)
                    continue
                if sent < self.batch:  # the outbox is empty (or nearly): wait for more
                    await self._prune_now_and_then()
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)

    async def _prune_now_and_then(self) -> None:
        """Forget the keys of confirmed readings past the duplicate window, every ten minutes."""
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            gone = await asyncio.to_thread(self.store.prune_sent_keys)
            if gone:
                log.debug("forgot the keys of %d readings past the duplicate window", gone)

    def _recovering(self, confirmed: int, largest: int) -> None:
        """After an outage: count what goes out, and say once, when the backlog is sent, that InfluxDB is
        back (`InfluxDB reachable again: 108 readings sent in 2.5 s`)."""
        outage = self._outage
        if outage is None:
            return
        if outage.back_at is None and confirmed:
            outage.back_at = time.monotonic()
        outage.sent += confirmed
        if largest < self.batch and outage.back_at is not None:  # the backlog is out
            log.warning(
                "InfluxDB reachable again after %.0f s: %d readings and points sent in %.1f s",
                outage.back_at - outage.since, outage.sent, time.monotonic() - outage.back_at,
            )  # fmt: skip
            self._outage = None
        elif largest == 0 and outage.back_at is None:  # reachable, and nothing was waiting
            log.warning("InfluxDB reachable again after %.0f s", time.monotonic() - outage.since)
            self._outage = None

    async def drain_once(self, client: httpx.AsyncClient) -> int:
        """Send one batch of each outbox; returns the size of the largest (a full one: more may wait)."""
        if not self._database_ready:
            self._database_ready = await asyncio.to_thread(self.store.http.ensure_database)
            if not self._database_ready:
                raise InfluxError(f"InfluxDB at {self.store.http.url} cannot be reached")
        largest = 0
        for queue in self.queues:
            largest = max(largest, await self._drain_queue(client, queue))
        if not largest:  # nothing waits: no news of InfluxDB is no reason to keep calling it unreachable
            self.store.reachable = True
        return largest

    async def _drain_queue(self, client: httpx.AsyncClient, queue) -> int:
        rows = await asyncio.to_thread(queue.next_batch, self.batch)
        if not rows:
            if queue.waiting:
                await asyncio.to_thread(queue.count_waiting)
            return 0
        try:
            await self.store.http.write(client, [line for _, line in rows])
            confirmed = [i for i, _ in rows]
        except InfluxAuthError:
            raise
        except InfluxError as exc:
            if exc.status == 404:  # the database was dropped: create it again
                self._database_ready = False
                raise
            if exc.unreachable or exc.status != 400:
                raise
            confirmed = await self._bisect(client, queue, rows)
        await asyncio.to_thread(queue.confirm, confirmed)
        self.store.reachable = True
        self.store.last_error = None
        self.sent += len(confirmed)
        return len(rows)

    async def _bisect(self, client: httpx.AsyncClient, queue, rows: list[tuple[int, str]]) -> list[int]:
        """Find the refused points of a batch InfluxDB answered 400 to; returns the ids it accepted."""
        if len(rows) == 1:
            try:
                await self.store.http.write(client, [rows[0][1]])
                return [rows[0][0]]
            except InfluxError as exc:
                if exc.status != 400:
                    raise
                log.error("InfluxDB refused a point for good, kept in the outbox: %s", exc)
                await asyncio.to_thread(queue.refuse, rows[0][0], str(exc))
                return []
        half = len(rows) // 2
        accepted = []
        for part in (rows[:half], rows[half:]):
            try:
                await self.store.http.write(client, [line for _, line in part])
                accepted += [i for i, _ in part]
            except InfluxError as exc:
                if exc.status != 400:
                    raise
                accepted += await self._bisect(client, queue, part)
        return accepted
