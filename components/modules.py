"""A module's row: its icon, name, live state (with a pending mark while a command waits for the device) and
the buttons that act on it. Updated in place from `module_state` events; the page does the acting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from app.core.domain.modules import KINDS, is_active
from app.core.i18n import _, term

from .labels import module_kind

Act = Callable[[int, str], Awaitable[None]]


def state_text(module: dict[str, Any]) -> str:
    """`On`, `On · level 2`, `Open`, `Closed`, `Off · 21 °C`, with `unavailable` when the device is gone."""
    state = module.get("state") or {}
    if module["module_type"] == "window":
        text = _("Open") if state.get("open") else _("Closed")
    else:
        text = _("On") if state.get("on") else _("Off")
        if state.get("level") is not None and state.get("on"):
            text += _(" · level {value}").format(value=state["level"])
        if state.get("setpoint") is not None:
            text += f" · {state['setpoint']:g} °C"
    if not module.get("available", True):
        text += _(" · unavailable")
    return text


ACTION_LABELS = {  # translated by labels (context "action")
    "turn_on": "switch on",
    "turn_off": "switch off",
    "open": "open",
    "close": "close",
    "set_level": "set the level",
    "set_setpoint": "set the temperature",
}


def action_label(action: str) -> str:
    """An action as people say it (`switch on`), not as the API names it (`turn_on`)."""
    return term("action", ACTION_LABELS.get(action, action.replace("_", " ")))


def _buttons_for(module_type: str) -> list[tuple[str, str, str]]:
    """(action, label, icon) of the one-click actions of a module type."""
    if module_type == "window":
        return [("open", _("Open"), "open_in_new"), ("close", _("Close"), "close")]
    return [("turn_on", _("On"), "power_settings_new"), ("turn_off", _("Off"), "power_off")]


class ModuleRow:
    def __init__(self, module: dict[str, Any], act: Act | None) -> None:
        """`act` None: the state only, no buttons (for those who may not switch the module)."""
        self.module_id = module["id"]
        kind = KINDS[module["module_type"]]
        with ui.row().classes("items-center gap-x-3 gap-y-1 w-full").mark(f"module-{self.module_id}"):
            self.icon = ui.icon(kind.icon, size="28px")
            with ui.column().classes("gap-0 grow min-w-0"):
                ui.label(module["name"]).classes("text-body1")
                ui.label(module_kind(kind.name)).classes("text-caption text-grey-7")
            self.spinner = ui.spinner(size="20px").mark(f"module-{self.module_id}-pending")
            self.state = ui.label().classes("text-body2 min-w-[4rem]").mark(f"module-{self.module_id}-state")
            for action, label, icon in _buttons_for(module["module_type"]) if act is not None else []:
                ui.button(label, icon=icon, on_click=lambda a=action: act(self.module_id, a)).props(
                    "dense no-caps outline no-wrap"
                ).mark(f"module-{self.module_id}-{action}")
        self.update(module)

    def update(self, module: dict[str, Any]) -> None:
        self.state.set_text(state_text(module))
        active = is_active(module.get("state"))
        self.icon.props(f"color={'positive' if active else 'grey-6'}")
        self.spinner.set_visibility(bool(module.get("pending")))
