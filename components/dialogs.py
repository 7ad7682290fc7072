"""Small modal questions: confirm an action, ask for a text, ask for a time zone.

Each dialog is built when asked and removed when answered, so nothing hidden lingers on the page.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from nicegui import ui

from app.core.i18n import _

NOT_ZONES = {"localtime", "posixrules", "Factory"}  # files in some zoneinfo folders that are not IANA zones


@cache
def timezone_names() -> tuple[str, ...]:
    """Every IANA zone the server knows, sorted (read from disk once)."""
    return tuple(sorted(available_timezones() - NOT_ZONES))


def timezone_select(value: str, *, label: str | None = None) -> ui.select:
    """A searchable select of IANA zones. A typed name that is not in the list is kept, so the service,
    not the widget, has the last word (and says what is wrong with it)."""
    options = sorted({*timezone_names(), value})
    return (
        ui.select(
            options, value=value, label=label or _("Time zone"), with_input=True, new_value_mode="add-unique"
        )
        .classes("min-w-[16rem]")
        .mark("timezone")
    )


async def _answer(dialog: ui.dialog) -> Any:
    result = await dialog
    if not dialog.is_deleted:
        dialog.delete()
    return result


async def confirm(title: str, message: str, *, action: str | None = None, colour: str = "negative") -> bool:
    """Ask before doing something that cannot be undone; True when the user confirmed."""
    with ui.dialog() as dialog, ui.card().classes("gap-3 max-w-lg").mark("confirm-dialog"):
        ui.label(title).classes("text-h6")
        ui.label(message).mark("confirm-message")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(_("Cancel"), on_click=lambda: dialog.submit(False)).props("flat").mark("cancel")
            ui.button(action or _("Delete"), color=colour, on_click=lambda: dialog.submit(True)).mark(
                "confirm"
            )
    return bool(await _answer(dialog))


async def ask_text(title: str, label: str, value: str = "") -> str | None:
    """A one-field form; None when cancelled."""
    with ui.dialog() as dialog, ui.card().classes("gap-3 min-w-[20rem]").mark("text-dialog"):
        ui.label(title).classes("text-h6")
        field = ui.input(label, value=value).classes("w-full").props("autofocus").mark("dialog-input")
        field.on("keydown.enter", lambda: dialog.submit(field.value))
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(_("Cancel"), on_click=lambda: dialog.submit(None)).props("flat")
            ui.button(_("Save"), on_click=lambda: dialog.submit(field.value)).mark("save")
    return await _answer(dialog)


async def ask_timezone(title: str, value: str) -> str | None:
    """Pick a time zone; None when cancelled."""
    with ui.dialog() as dialog, ui.card().classes("gap-3 min-w-[20rem]").mark("timezone-dialog"):
        ui.label(title).classes("text-h6")
        select = timezone_select(value)
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(_("Cancel"), on_click=lambda: dialog.submit(None)).props("flat")
            ui.button(_("Save"), on_click=lambda: dialog.submit(select.value)).mark("save")
    return await _answer(dialog)
