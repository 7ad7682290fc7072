"""Refreshing a page section from events that may come in bursts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


class Coalesced:
    """Runs an async refresh, never two at a time: calls that arrive while it runs fold into one more run.

    Without this, two overlapping refreshes could finish in the wrong order and show the older data.
    """

    def __init__(self, work: Callable[[], Awaitable[None]]) -> None:
        self.work = work
        self.running = False
        self.again = False

    async def __call__(self) -> None:
        if self.running:
            self.again = True
            return
        self.running = True
        try:
            while True:
                self.again = False
                await self.work()
                if not self.again:
                    break
        finally:
            self.running = False
