"""A banner saying the time-series store is degraded and how many readings wait to reach it."""

from __future__ import annotations

from nicegui import Event, ui


def storage_banner(status: dict, changes: Event) -> None:
    """Shown only while the status says degraded (InfluxDB down: readings wait in the outbox) or warns (the
    disk is nearly full); follows `changes`, which carries each new status."""
    with ui.row().classes("w-full items-center gap-2 p-2 rounded bg-orange-1 text-orange-10") as banner:
        ui.icon("cloud_off", color="orange-9")
        label = ui.label().mark("storage-status")

    def show(current: dict) -> None:
        degraded = current.get("status") in ("degraded", "warning")
        banner.set_visibility(degraded)
        if degraded:
            label.set_text(
                current.get("message") or f"storage degraded, {current.get('waiting', 0)} readings waiting"
            )

    show(status)
    changes.subscribe(show)
