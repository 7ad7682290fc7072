"""A banner saying the time-series store is degraded and how many readings wait to reach it."""

from __future__ import annotations

from nicegui import Event, ui

from app.core.i18n import _, ngettext
from services.query import Series


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
                current.get("message")
                or _("storage degraded, {get} readings waiting").format(get=current.get("waiting", 0))
            )

    show(status)
    changes.subscribe(show)


def _unavailable(status: dict) -> bool:
    return status.get("backend") == "influxdb" and status.get("status") == "degraded"


class SeriesNotice:
    """Above a chart or table drawn from the time series: while InfluxDB cannot be reached, says that part of
    its span may be missing and that the readings waiting to reach InfluxDB are shown. Follows `changes`
    (the storage status, deployment-wide, as the dashboard's banner)."""

    def __init__(self, status: dict, changes: Event, *, what: str | None = None) -> None:
        self.what = what or _("this chart")
        with ui.row().classes("w-full items-center gap-2 p-2 rounded bg-orange-1 text-orange-10") as self.row:
            ui.icon("cloud_off", color="orange-9")
            self.label = ui.label().mark("series-notice")
        self.show(status)
        changes.subscribe(self.show)

    def show(self, status: dict) -> None:
        unavailable = _unavailable(status)
        self.row.set_visibility(unavailable)
        if unavailable:
            waiting = status.get("waiting", 0)
            self.label.set_text(
                _("InfluxDB cannot be reached: {what} may lack readings it holds for this period.").format(
                    what=self.what
                )
                + " "
                + ngettext(
                    "{n} reading waiting to reach it is shown.",
                    "{n} readings waiting to reach it are shown.",
                    waiting,
                ).format(n=waiting)
            )

    def show_series(self, series: Series) -> None:
        """A query's series whose part from InfluxDB may be missing shows the notice at once, before the next
        status change arrives."""
        if series.storage:
            self.show(
                {"backend": "influxdb", "status": "degraded", "waiting": series.storage.get("waiting", 0)}
            )
