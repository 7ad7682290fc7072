"""A banner saying the time-series store is degraded and how many readings wait to reach it."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui


def storage_banner(status: Callable[[], dict], *, interval_s: float = 2.0) -> None:
    """Shown only while `status()` says degraded (InfluxDB down: readings wait in the outbox) or warns (the
    disk is nearly full)."""
    with ui.row().classes("w-full items-center gap-2 p-2 rounded bg-orange-1 text-orange-10") as banner:
        ui.icon("cloud_off", color="orange-9")
        label = ui.label().mark("storage-status")

    def update() -> None:
        current = status()
        degraded = current.get("status") in ("degraded", "warning")
        banner.set_visibility(degraded)
        if degraded:
            label.set_text(
                current.get("message") or f"storage degraded, {current.get('waiting', 0)} readings waiting"
            )

    update()
    ui.timer(interval_s, update)
