"""The garbage collector tuned for a long-running process that ingests readings (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import gc

FREEZE_AFTER_S = 2.0


class HeapTuning:
    """`apply()` at start-up, `undo()` at stop (a runtime built again in the same process, as in tests, must
    not keep the previous one alive)."""

    def __init__(self) -> None:
        self._thresholds: tuple[int, int, int] | None = None
        self._freezer: asyncio.TimerHandle | None = None

    def apply(self) -> None:
        # Readings make and drop tens of thousands of small objects a second: a young-generation pass every
        # 700 allocations (the default) ran many times per batch; every 10 000 keeps memory bounded the same
        # way (reference counting frees almost everything at once) for about a tenth less CPU per reading.
        self._thresholds = gc.get_threshold()
        gc.set_threshold(10_000, 10, 10)
        # What exists then (modules, app, registry) lives as long as the process: keep it out of the cyclic
        # collector's full passes, which re-scanned it all while readings flowed. A full collection takes
        # about 0.1 s: done a moment after start-up, so the platform answers first, and on the event loop's
        # thread (finalizers the collection runs may touch the loop's objects; a timer thread would race it).
        try:
            self._freezer = asyncio.get_running_loop().call_later(FREEZE_AFTER_S, _freeze)
        except RuntimeError:  # started outside an event loop (the CLI, some tests): no freeze needed
            self._freezer = None

    def undo(self) -> None:
        if self._freezer is not None:
            self._freezer.cancel()
        gc.unfreeze()
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)


def _freeze() -> None:
    gc.collect()
    gc.freeze()
