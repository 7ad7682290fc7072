"""The twin's editor of one room, for the administrator setting the twin up: its geometry as JSON (saved, or
back to the default layout) and its .glb model. Every change is confirmed and audited."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from nicegui import ui
from nicegui.events import UploadEventArguments

from app.core.i18n import N_, _

from .actions import attempt

if TYPE_CHECKING:
    from app.runtime import Runtime


class RoomEditor:
    def __init__(self, runtime: Runtime, room_id: int, geometry: dict[str, Any]) -> None:
        self.runtime, self.room_id, self.models = runtime, room_id, runtime.room_models
        with ui.expansion(_("Geometry and 3D model"), icon="edit").classes("w-full").mark("panel-editor"):
            self.text = ui.textarea(_("Geometry (metres)"), value=json.dumps(geometry, indent=1)).classes(
                "w-full"
            )
            self.text.props("autogrow").mark("geometry-text")
            with ui.row().classes("gap-2"):
                ui.button(_("Save geometry"), on_click=self.save).mark("geometry-save")
                ui.button(_("Default layout"), on_click=self.default).props("flat")
            ui.label(
                _("A .glb model (metres, glTF y-up, origin at the site's origin), up to {value} MB").format(
                    value=self.models.max_bytes // 1_048_576 or 1
                )
            ).classes("text-caption text-grey-7")
            ui.upload(on_upload=self.uploaded, auto_upload=True, max_file_size=self.models.max_bytes).props(
                "accept=.glb"
            ).classes("w-full").mark("model-upload")

    async def save(self) -> None:
        try:
            geometry = json.loads(self.text.value or "null")
        except json.JSONDecodeError as exc:
            ui.notify(_("geometry: not JSON ({msg})").format(msg=exc.msg), type="negative")
            return
        await attempt(
            _("The geometry was not saved"),
            self.runtime.config.set_room_geometry(self.room_id, geometry),
            done=_("Geometry saved"),
            audit=N_("room geometry changed"),
            target=f"room {self.room_id}",
        )

    async def default(self) -> None:
        await attempt(
            _("The layout was not reset"),
            self.runtime.config.set_room_geometry(self.room_id, None),
            done=_("Back to the default layout"),
            audit=N_("room geometry reset"),
            target=f"room {self.room_id}",
        )

    async def uploaded(self, e: UploadEventArguments) -> None:
        if not e.file.name.lower().endswith(".glb"):
            ui.notify(_("model: choose a .glb file"), type="negative")
            return
        saved = await attempt(
            _("The model was not saved"),
            self.models.save(self.room_id, await e.file.read()),
            done=_("Model saved"),
            audit=N_("room 3D model uploaded"),
            target=f"room {self.room_id}: {e.file.name}",
        )
        if saved is not None:
            self.runtime.bus.config_changed.emit()
