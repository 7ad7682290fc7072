"""Background workers: asyncio tasks of the one process, with a state that `/health` reports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Worker:
    """Runs `work()` as a task; restarts it with backoff if it crashes, so one bad moment is not fatal."""

    def __init__(self, name: str, work: Callable[[], Awaitable[None]], *, restart_delay_s: float = 5.0):
        self.name, self._work, self._delay = name, work, restart_delay_s
        self._task: asyncio.Task | None = None
        self.state = "stopped"
        self.last_error: str | None = None
        self.restarts = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"worker:{self.name}")

    async def _run(self) -> None:
        delay = self._delay
        while True:
            self.state = "running"
            try:
                await self._work()
                self.state = "finished"
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("worker %s failed; restarting in %.0f s", self.name, delay)
                self.state, self.last_error = "failed", f"{type(exc).__name__}: {exc}"[:300]
                self.restarts += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.state = "stopped"

    @property
    def healthy(self) -> bool:
        return self.state in {"running", "finished"}
