"""The digital twin's 3D scene: one coloured volume per room, on its floor, with sensor markers and labels.

The scene takes rooms (geometry, sensors, optional .glb model) and latest values, and emits clicks; it never
reads storage. `update()` changes colours and labels in place, and only when what is shown changes, so a
site of 50 rooms fed every second sends a few small messages per second, not a new scene.

Names of scene objects (what a click reports, what the browser test reads): `room:<id>` for a room's
volume, `room:<id>:label`, `sensor:<room id>:<sensor id>`, `model:<id>`, `module:<id>`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nicegui import ui
from nicegui.elements.scene.scene_object3d import Object3D
from nicegui.events import SceneClickEventArguments

from app.core.domain.geometry import RoomGeometry, storey_height
from app.core.domain.metrics import ALL_KNOWN, CORE_METRICS
from app.core.domain.score import (
    DEFAULT_THRESHOLDS,
    LEVEL_COLOURS,
    SCORE_LEVELS,
    Thresholds,
    level_of_score,
    room_score,
    split_stale,
)
from app.core.i18n import _
from components.tiles import format_value

from .labels import level as level_name
from .labels import metric_name
from .module_shapes import SCENE_KINDS, draw_module, module_look, module_position, module_scene_state

SCORE_MODE = "score"
VOLUME_OPACITY = 0.55
VOLUME_OPACITY_WITH_MODEL = 0.25  # the model shows through; the room's level stays visible around it
LABEL_STYLE = (
    "background: rgba(255,255,255,0.85); border-radius: 4px; padding: 1px 6px; font: 12px sans-serif; "
    "color: #263238; white-space: nowrap; display: inline-block; border-left: 4px solid {colour}"
)
SENSOR_STYLE = (
    "font: 11px sans-serif; color: #37474f; background: rgba(255,255,255,0.7); padding: 0 3px; "
    "white-space: nowrap; display: inline-block"
)
STALE_CHECK_S = 30.0


class LiveLabel(Object3D, component="room_scene_label.js"):
    """A text label facing the camera whose text and style change in place."""

    def __init__(self, text: str, style: str = "") -> None:
        super().__init__(text, style)

    def show(self, text: str, style: str | None = None) -> None:
        style = self.args[1] if style is None else style
        if [text, style] != self.args:
            self.args = [text, style]  # kept for a re-sent scene (a reconnecting browser)
            self.run_method("set_text", text, style)


@dataclass
class TwinRoom:
    """A room as the twin draws it."""

    id: int
    name: str
    geometry: RoomGeometry
    sensors: list[str] = field(default_factory=list)
    model_url: str | None = None
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    values: dict[str, float] = field(default_factory=dict)  # latest value per metric
    times: dict[str, int] = field(default_factory=dict)  # and its time (ms)


@dataclass
class _Drawn:
    room: TwinRoom
    elevation: float
    group: Object3D
    volume: Object3D
    label: LiveLabel
    sensors: dict[str, tuple[Object3D, LiveLabel]]
    sensor_values: dict[str, dict[str, float]] = field(default_factory=dict)
    level: str = "unknown"
    driver: str | None = None


def level_for(room: TwinRoom, mode: str, now_ms: int, stale_after_ms: int) -> tuple[str, str | None, str]:
    """(level, driver metric, text after the room's name) of a room in a colour mode: the IAQ score or one
    metric's sub-score. Stale values are left out, as on the tiles."""
    latest = {m: (v, room.times.get(m, now_ms)) for m, v in room.values.items()}
    fresh, _stale = split_stale(latest, now_ms, stale_after_ms)
    if mode == SCORE_MODE:
        result = room_score(fresh, room.thresholds)
        if result is None:
            return "unknown", None, "—"
        return result.level, result.driver_metric, f"{int(result.score)}"
    value = fresh.get(mode)
    score = None if value is None else room.thresholds.sub_score(mode, value)
    if score is None:
        return "unknown", mode, "—"
    return level_of_score(score), mode, format_value(mode, value)


def legend_ranges(mode: str, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, str]:
    """What each level's colour means in a mode: score bands, or the metric's value ranges."""
    if mode == SCORE_MODE:
        return dict(zip(SCORE_LEVELS, ("80–100", "60–80", "40–60", "20–40", "0–20"), strict=True))
    scale = thresholds.scales[mode]
    offset = thresholds.outdoor_co2_ppm if mode == "co2" else 0.0
    high = [b + offset for b in scale.high]
    unit = ALL_KNOWN[mode].unit if mode in ALL_KNOWN else ""
    out = {}
    for k, level in enumerate(SCORE_LEVELS):
        upper = f"> {high[k]:g}" if k == len(SCORE_LEVELS) - 1 else f"≤ {high[k + 1]:g}"
        if scale.low is not None:
            lower = f"≥ {scale.low[k + 1]:g}" if k < len(SCORE_LEVELS) - 1 else f"< {scale.low[k]:g}"
            out[level] = f"{upper} / {lower} {unit}"
        else:
            out[level] = f"{upper} {unit}"
    return out


class RoomScene:
    """A `ui.scene` with every room of a site on its floor, coloured live by level."""

    def __init__(
        self,
        rooms: list[TwinRoom],
        *,
        on_room: Callable[[int], Any] | None = None,
        on_module: Callable[[str], Any] | None = None,
        mode: str = SCORE_MODE,
        stale_after_s: float = 3600.0,
        height: int = 560,
    ) -> None:
        self.on_room, self.on_module = on_room, on_module
        self.mode = mode
        self.stale_after_ms = int(stale_after_s * 1000)
        self.storey = storey_height([r.geometry for r in rooms]) if rooms else 3.5
        self.drawn: dict[int, _Drawn] = {}
        self.modules: dict[str, tuple[Object3D, str]] = {}  # module id -> (object, drawing kind)
        self.floor: int | None = None
        self.scene = (
            ui.scene(height=height, grid=(200, 100), background_color="#eceff1", on_click=self._clicked)
            .classes("w-full")
            .mark("twin-scene")
        )
        with self.scene:
            for room in rooms:
                self._draw(room)
        self.show_all(duration=0)
        ui.timer(STALE_CHECK_S, self.refresh)

    @property
    def floors(self) -> list[int]:
        return sorted({d.room.geometry.floor for d in self.drawn.values()})

    # -- drawing
    def _draw(self, room: TwinRoom) -> None:
        scene, g = self.scene, room.geometry
        elevation = g.floor * self.storey
        cx, cy = g.centre
        with scene.group().move(0, 0, elevation).with_name(f"floor-room:{room.id}") as group:
            volume = scene.extrusion([list(p) for p in g.footprint], g.height).with_name(f"room:{room.id}")
            opacity = VOLUME_OPACITY_WITH_MODEL if room.model_url else VOLUME_OPACITY
            volume.material(LEVEL_COLOURS["unknown"], opacity)
            scene.extrusion([list(p) for p in g.footprint], g.height, wireframe=True).material("#455a64")
            if room.model_url:
                # glTF is y-up; the scene is z-up: stand the model up, with its origin at the site's origin
                scene.gltf(room.model_url).rotate(math.pi / 2, 0, 0).with_name(f"model:{room.id}")
            label = LiveLabel(room.name, LABEL_STYLE.format(colour=LEVEL_COLOURS["unknown"]))
            label.move(cx, cy, g.height + 0.4).with_name(f"room:{room.id}:label")
            sensors = {}
            for index, sensor_id in enumerate(room.sensors):
                x, y, z = g.sensor_position(sensor_id, index)
                dot = (
                    scene.sphere(0.18, 12, 8)  # few segments: 50 rooms must render in software too
                    .move(x, y, z)
                    .material("#263238")
                    .with_name(f"sensor:{room.id}:{sensor_id}")
                )
                text = (
                    LiveLabel("", SENSOR_STYLE)
                    .move(x, y, z + 0.45)
                    .with_name(f"sensor:{room.id}:{sensor_id}:label")
                )
                sensors[sensor_id] = (dot, text)
        drawn = _Drawn(room, elevation, group, volume, label, sensors)
        if len(room.sensors) == 1 and room.values:  # the room's latest values are its only sensor's
            drawn.sensor_values[room.sensors[0]] = dict(room.values)
        self.drawn[room.id] = drawn
        self._show(drawn)

    def _show(self, d: _Drawn) -> None:
        """Colour and labels from the room's values; NiceGUI sends nothing when they are unchanged."""
        level, driver, text = level_for(d.room, self.mode, int(time.time() * 1000), self.stale_after_ms)
        d.level, d.driver = level, driver
        colour = LEVEL_COLOURS[level]
        d.volume.material(colour, d.volume.opacity)
        d.label.show(f"{d.room.name} · {text}", LABEL_STYLE.format(colour=colour))
        metric = driver or "co2"
        for sensor_id, (_marker, label) in d.sensors.items():
            value = d.sensor_values.get(sensor_id, {}).get(metric)
            label.show(f"{sensor_id}: {format_value(metric, value)}" if value is not None else sensor_id)

    # -- modules
    def add_modules(self, room_id: int, modules: list[dict[str, Any]]) -> None:
        """Draw a room's modules (dicts with `id`, `module_type`, `state`, `available`) in its floor group."""
        d = self.drawn.get(room_id)
        if d is None:
            return
        placed: dict[str, int] = {}
        with self.scene, d.group:
            for module in modules:
                kind = SCENE_KINDS.get(module["module_type"], module["module_type"])
                index = placed[kind] = placed.get(kind, -1) + 1
                position = module_position(d.room.geometry, kind, index)
                obj = draw_module(self.scene, str(module["id"]), kind, module_scene_state(module), position)
                self.modules[str(module["id"])] = (obj, kind)

    def set_module_state(self, module: dict[str, Any]) -> None:
        """A module's new state or availability: its colour changes in place."""
        drawn = self.modules.get(str(module["id"]))
        if drawn is not None:
            obj, kind = drawn
            obj.material(*module_look(kind, module_scene_state(module)))

    def module_colour(self, module_id: int | str) -> str | None:
        drawn = self.modules.get(str(module_id))
        return drawn[0].color if drawn else None

    # -- live data in
    def knows(self, room_id: int) -> bool:
        return room_id in self.drawn

    def update(
        self, room_id: int, values: dict[str, float], ts_ms: int, sensor_id: str | None = None
    ) -> None:
        """A new reading of a room (older ones than what is shown are ignored per metric)."""
        d = self.drawn.get(room_id)
        if d is None:
            return
        for metric, value in values.items():
            if ts_ms >= d.room.times.get(metric, 0):
                d.room.values[metric] = value
                d.room.times[metric] = ts_ms
        if sensor_id in d.sensors:
            d.sensor_values.setdefault(sensor_id, {}).update(values)
        self._show(d)

    def update_many(self, readings: list[tuple[int, dict[str, float], int, str | None]]) -> None:
        """Several readings `(room id, values, ts_ms, sensor id)` at once: whatever they change on screen
        goes to the browser as one message, not one per room (a simulator step covers every room)."""
        batch = getattr(self.scene, "_batch_calls", None)  # NiceGUI's own batching of scene calls
        if batch is None:
            for reading in readings:
                self.update(*reading)
            return
        with batch():
            for reading in readings:
                self.update(*reading)

    def set_thresholds(self, room_id: int, thresholds: Thresholds) -> None:
        d = self.drawn.get(room_id)
        if d is not None and d.room.thresholds is not thresholds:
            d.room.thresholds = thresholds
            self._show(d)

    def refresh(self) -> None:
        """Re-evaluate every room (values turn stale with time alone)."""
        for d in self.drawn.values():
            self._show(d)

    def colour_of(self, room_id: int) -> str:
        return self.drawn[room_id].volume.color or LEVEL_COLOURS["unknown"]

    # -- view
    def set_mode(self, mode: str) -> None:
        """Colour by the IAQ score (`score`) or by one metric's sub-score (`co2`, `pm25`, ...)."""
        if mode != SCORE_MODE and mode not in CORE_METRICS and mode not in DEFAULT_THRESHOLDS.scales:
            raise ValueError(f"unknown colour mode {mode!r}")
        self.mode = mode
        self.refresh()

    def show_floor(self, floor: int | None) -> None:
        """Show one floor only, or all of them (None)."""
        self.floor = floor
        for d in self.drawn.values():
            d.group.visible(floor is None or d.room.geometry.floor == floor)

    def show_all(self, duration: float = 0.8) -> None:
        """Camera over the whole site (or the shown floor)."""
        shown = [d for d in self.drawn.values() if self.floor is None or d.room.geometry.floor == self.floor]
        if not shown:
            self.scene.move_camera(0, -12, 12, 0, 0, 0, duration=duration)
            return
        x0 = min(d.room.geometry.bounds[0] for d in shown)
        y0 = min(d.room.geometry.bounds[1] for d in shown)
        x1 = max(d.room.geometry.bounds[2] for d in shown)
        y1 = max(d.room.geometry.bounds[3] for d in shown)
        z1 = max(d.elevation + d.room.geometry.height for d in shown)
        cx, cy, span = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0, 8.0)
        self.scene.move_camera(cx, cy - 0.7 * span, z1 + 0.9 * span, cx, cy, 0, duration=duration)

    def focus(self, room_id: int, duration: float = 0.8) -> None:
        """Fly the camera to a room."""
        d = self.drawn.get(room_id)
        if d is None:
            return
        g = d.room.geometry
        x0, y0, x1, y1 = g.bounds
        cx, cy, size = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0, g.height) + 4
        z = d.elevation + g.height / 2
        self.scene.move_camera(cx, cy - 0.9 * size, z + 0.8 * size, cx, cy, z, duration=duration)

    # -- clicks out
    def _clicked(self, e: SceneClickEventArguments) -> Any:
        for hit in e.hits:
            name = hit.object_name or ""
            kind, _sep, rest = name.partition(":")
            if kind == "module" and self.on_module:
                return self.on_module(rest)
            if kind in ("room", "sensor") and self.on_room:
                room_id = rest.split(":", 1)[0]
                if room_id.isdigit() and int(room_id) in self.drawn:
                    return self.on_room(int(room_id))
        return None


def legend(mode: str, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> None:
    """Colour chips with each level's meaning in the chosen mode."""
    with ui.row().classes("items-center gap-3 text-caption").mark("twin-legend"):
        title = _("IAQ score") if mode == SCORE_MODE else metric_name(mode)
        ui.label(f"{title}:").classes("text-weight-medium")
        for level, text in legend_ranges(mode, thresholds).items():
            with ui.row().classes("items-center gap-1 no-wrap"):
                ui.element("div").style(
                    f"width: 14px; height: 14px; border-radius: 3px; background: {LEVEL_COLOURS[level]}"
                )
                ui.label(f"{level_name(level)} {text}")
        with ui.row().classes("items-center gap-1 no-wrap"):
            ui.element("div").style(
                f"width: 14px; height: 14px; border-radius: 3px; background: {LEVEL_COLOURS['unknown']}"
            )
            ui.label(_("no recent value"))
