"""The trainer: fits a room metric's forecaster in a worker process, registers every run and activates a
new version only if it beats persistence and the active version on the backtest."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
from datetime import UTC, datetime
from typing import Any

from .base import ForecastBase, model_name

log = logging.getLogger(__name__)


class Trainer(ForecastBase):
    async def _run_cpu(self, fn, *args, **kwargs):
        if not self.use_process_pool:
            return await asyncio.to_thread(fn, *args, **kwargs)
        if self._pool is None:
            # spawn: forking a process that runs threads and an event loop is unsafe
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, _call, fn, args, kwargs)
        except concurrent.futures.process.BrokenProcessPool:
            self._pool = None
            raise

    async def train_room(
        self, room_id: int, metric: str = "co2", *, trigger: str = "manual"
    ) -> dict[str, Any]:
        """Train, register and maybe promote one room metric's model; returns the training run."""
        site, room, tz = await asyncio.to_thread(self._room, room_id)
        name = model_name(metric, site, room)
        async with self._train_lock:
            self.training = name
            run_id = await asyncio.to_thread(self.registry.start_run, name, trigger)
            try:
                result = await self._fit(room_id, metric, name, tz)
                model = await self._register(result, name, run_id, room_id, metric, trigger)
                run = await asyncio.to_thread(
                    self.registry.finish_run,
                    run_id,
                    outcome="promoted" if result["promote"] else "kept",
                    data_points=result["data_points"],
                    model_id=model["id"],
                    metrics=result["metrics"],
                )
                if result["promote"]:
                    await self._first_forecasts(model, result["end_s"])
                return run
            except Exception as exc:  # a failed training leaves the active model in place
                log.warning("training %s failed: %s", name, exc)
                return await asyncio.to_thread(
                    self.registry.finish_run,
                    run_id,
                    outcome="failed",
                    error=f"{type(exc).__name__}: {exc}"[:1000],
                )
            finally:
                self.training = None

    async def _first_forecasts(self, model: dict[str, Any], fitted_until_s: float) -> None:
        """A promoted model's forecasts at once: those it would have made since the end of the span it was
        fitted on (none of them in-sample, so the track record stays honest), and now's."""
        try:
            await asyncio.to_thread(self.backfill_forecasts, model, since_s=fitted_until_s)
            await self.predict_all(only={(model["room_id"], model["metric"])})
        except Exception:  # the model is trained and active: its forecasts come with the predictor's next run
            log.exception("first forecasts of %s failed", model["model_name"])

    async def _fit(self, room_id: int, metric: str, name: str, tz: str) -> dict[str, Any]:
        """Fit on the room's last 14 days (with its ventilation states) against the active model."""
        from .training import train

        times, values = await asyncio.to_thread(self._history, room_id, metric, 14 * 86400)
        ventilation = None
        if times:
            ventilation = await asyncio.to_thread(self._ventilation, room_id, times[0], times[-1])
        active = await asyncio.to_thread(self.registry.active, name)
        champion = None
        if active:
            loaded = await asyncio.to_thread(self._load, active)
            champion = None if loaded.fallback else loaded.bundle
        return await self._run_cpu(
            train, times, values, metric=metric, tz=tz, champion=champion, ventilation=ventilation
        )

    async def _register(
        self, result: dict[str, Any], name: str, run_id: int, room_id: int, metric: str, trigger: str
    ) -> dict[str, Any]:
        """Save the fitted model's artifact and register it, active if it won."""
        version = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + f"-{run_id}"
        path, checksum = await asyncio.to_thread(self.registry.save_artifact, result["bundle"], name, version)
        return await asyncio.to_thread(
            self.registry.add,
            name=name,
            version=version,
            model_type=result["model_type"],
            artifact_path=path,
            checksum=checksum,
            metric=metric,
            room_id=room_id,
            parameters=result["parameters"],
            metrics=result["metrics"],
            training_start=datetime.fromtimestamp(result["start_s"], UTC),
            training_end=datetime.fromtimestamp(result["end_s"], UTC),
            activate_by=f"trainer ({trigger})" if result["promote"] else None,
        )

    async def train_all(self, *, trigger: str = "scheduled") -> list[dict[str, Any]]:
        runs = []
        for room_id in await asyncio.to_thread(self._rooms):
            for metric in self.metrics:
                if await asyncio.to_thread(self.store.count, [room_id]):
                    runs.append(await self.train_room(room_id, metric, trigger=trigger))
        return runs

    async def run_trainer(self, interval_s: float, first_delay_s: float = 60.0) -> None:
        await asyncio.sleep(first_delay_s)
        while True:
            await self.train_all(trigger="scheduled")
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # -- predictor --------------------------------------------------------------------------------------


def _call(fn, args, kwargs):
    return fn(*args, **kwargs)
