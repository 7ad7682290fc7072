"""Replay recorded data set rows as if live sensors were sending them now."""

from __future__ import annotations

import asyncio
import heapq
import inspect
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from services.datasets import DatasetRow, payload_from_row
from services.simulator.demo import Sink, utc_now


def merge_rows(*streams: Iterable[DatasetRow]) -> Iterator[DatasetRow]:
    """Interleave several time-ordered row streams (e.g. many smart-building rooms) by time."""
    return heapq.merge(*streams, key=lambda row: row.ts)


async def replay(
    rows: Iterable[DatasetRow],
    sink: Sink,
    *,
    speed: float = 60.0,
    shift_to_now: bool = True,
    batch: int = 100,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    max_calls: int | None = None,
    coalesce_s: float = 0.2,
) -> int:
    """Send time-ordered ``rows`` to ``sink`` paced by their own timestamps; return how many were sent.

    A row recorded ``d`` after the first one is sent ``d / speed`` after the start
    (speed 60: one recorded minute per real second). With ``shift_to_now`` its timestamp
    becomes that send instant, so the platform sees a live stream; otherwise it keeps its
    original stamp. Rows due within ``coalesce_s`` of the first of a group go in one call of at most
    ``batch`` rows, sent when the last of them is due (a fast replay of history then costs few requests).
    ``max_calls`` stops early (tests, demos). Sink errors propagate: retrying is the sink's job.
    """
    _check_pace(speed, shift_to_now, batch, max_calls)
    started = clock()
    first_ts: datetime | None = None
    pending: list[dict] = []
    pending_at: datetime | None = None
    group_start: datetime | None = None
    sent = calls = 0

    async def flush() -> bool:
        """Send the pending group at its instant; False once ``max_calls`` is reached."""
        nonlocal sent, calls, pending
        delay_s = (pending_at - clock()).total_seconds()
        if delay_s > 0:
            await sleep(delay_s)
        result = sink(pending)
        if inspect.isawaitable(result):
            await result
        sent, calls, pending = sent + len(pending), calls + 1, []
        return max_calls is None or calls < max_calls

    for row in rows:
        first_ts = row.ts if first_ts is None else first_ts
        offset_s = 0.0 if math.isinf(speed) else (row.ts - first_ts).total_seconds() / speed
        send_at = started + timedelta(seconds=offset_s)
        starts_new_call = pending and (
            (send_at - group_start).total_seconds() > coalesce_s or len(pending) >= batch
        )
        if starts_new_call and not await flush():
            return sent
        if not pending:
            group_start = send_at
        pending_at = send_at
        pending.append(payload_from_row(replace(row, ts=send_at) if shift_to_now else row))
    if pending:
        await flush()
    return sent


def _check_pace(speed: float, shift_to_now: bool, batch: int, max_calls: int | None) -> None:
    if not speed > 0:
        raise ValueError("speed must be > 0")
    if math.isinf(speed) and shift_to_now:
        raise ValueError("an infinite speed would give every shifted row the same timestamp")
    if batch < 1 or (max_calls is not None and max_calls < 1):
        raise ValueError("batch and max_calls must be >= 1")
