"""How modules look in the twin: a shape per kind (fan, purifier, window), placed along the room's walls,
coloured by its state."""

from __future__ import annotations

import math
from typing import Any

from nicegui import ui
from nicegui.elements.scene.scene_object3d import Object3D

from app.core.domain.geometry import RoomGeometry


def module_look(kind: str, state: str | None) -> tuple[str, float]:
    """Colour and opacity of a module (fan, purifier, window) in a state: on/open is bright, off/closed
    is grey, unknown or unreachable is faint."""
    on = {"fan": "#0288d1", "purifier": "#7b1fa2", "window": "#4fc3f7"}.get(kind, "#00897b")
    if state in ("on", "open", "running"):
        return on, 0.95
    if state in ("off", "closed", "idle"):
        return "#90a4ae", 0.9
    return "#cfd8dc", 0.4


SCENE_KINDS = {"ventilation": "fan", "purifier": "purifier", "window": "window"}  # module type -> drawing


def module_scene_state(module: dict[str, Any]) -> str | None:
    """A module's state as `module_look` reads it: on/off, open/closed, None when it is unavailable or has
    not reported."""
    state = module.get("state")
    if not module.get("available", True) or not state:
        return None
    if "open" in state:
        return "open" if state["open"] else "closed"
    return "on" if state.get("on") else "off"


def module_position(geometry: RoomGeometry, kind: str, index: int) -> tuple[float, float, float]:
    """Where a room's module is drawn, relative to its floor: a window on the outside of the south wall, the
    others as markers on the roof near the south-west corner, so no translucent volume hides them."""
    x0, y0, x1, _y1 = geometry.bounds
    cx, _cy = geometry.centre
    top = geometry.height
    if kind == "window":
        return cx + 1.4 * index, y0 - 0.04, top * 0.55
    if kind == "fan":
        return min(x0 + 0.8 + 0.9 * index, x1 - 0.4), y0 + 0.8, top + 0.05
    return min(x0 + 1.9 + 0.7 * index, x1 - 0.3), y0 + 0.8, top + 0.4


def draw_module(
    scene: ui.scene, module_id: str, kind: str, state: str | None, position: tuple[float, float, float]
) -> Object3D:
    """Draw one module in the open scene context (`RoomScene.add_modules` places the room's modules).

    A fan is a disc, a purifier a small tower, a window a pane; the look follows `module_look`. Clicks on
    it reach `RoomScene`'s `on_module` with `module_id`. Change its state with `.material(*module_look())`.
    """
    if kind == "fan":
        obj = scene.cylinder(0.35, 0.35, 0.08).rotate(math.pi / 2, 0, 0)
    elif kind == "window":
        obj = scene.box(1.2, 0.05, 1.0)
    else:
        obj = scene.box(0.4, 0.4, 0.8)
    colour, opacity = module_look(kind, state)
    return obj.move(*position).material(colour, opacity).with_name(f"module:{module_id}")
