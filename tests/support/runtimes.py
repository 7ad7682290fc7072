"""Runtimes built in the test process (a real database, ingestion and bus, no web server), and what tests of
alerting and modules share."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from app.core.settings import Settings
from app.runtime import Runtime, build_runtime

MIN = 60


def alerting_runtime(data_dir: Path) -> Runtime:
    settings = Settings(
        data_dir=data_dir,
        alerts_enabled=True,
        alert_interval_s=3600,
        score_interval_s=0,
        sensor_interval_s=60,
    )
    runtime = build_runtime(settings)
    runtime.start()
    return runtime


def series(
    values: list[float], *, start: float, sensor: str = "s1", room: str = "Bureau", step_s: float = MIN
):
    return [
        {"sensor_id": sensor, "enseigne": "Maison", "salle": room, "timestamp": start + i * step_s,
         "values": {"co2": v}}
        for i, v in enumerate(values)
    ]  # fmt: skip


async def settle(rt: Runtime, readings: int, timeout_s: float = 5) -> None:
    """Wait until the alerting worker has evaluated `readings` readings in all and is idle."""
    deadline = time.monotonic() + timeout_s
    while rt.alerting.evaluated < readings or rt.alerting._inbox:
        assert time.monotonic() < deadline, f"evaluated {rt.alerting.evaluated} of {readings} readings"
        await asyncio.sleep(0.02)
    async with rt.alerting._lock:
        pass


def modules_runtime(data_dir: Path, **overrides) -> Runtime:
    settings = Settings(data_dir=data_dir, score_interval_s=0, simulated_device_delay_s=0, **overrides)
    runtime = build_runtime(settings)
    runtime.start()
    return runtime


async def settled_history(rt: Runtime, *names: str, limit: int = 100) -> list[dict]:
    """The action history once no command in it is waiting for its record to be completed (a reported state
    is in memory a moment before its acknowledgement is written)."""
    deadline = time.monotonic() + 10
    while True:
        actions = await rt.modules.history(*names, limit=limit)
        if all(a["status"] != "pending" for a in actions) or time.monotonic() > deadline:
            return actions
        await asyncio.sleep(0.02)


def turn_on(**extra) -> dict:
    reason = {"pollutant": "CO2", "value": 1200, "level": "high"}
    return {"enseigne": "Maison", "salle": "Bureau", "module_type": "ventilation", "action_type": "turn_on",
            "priority": "high", "reason": reason, **extra}  # fmt: skip
