"""Helpers of the page tests (NiceGUI's simulated user) and of the tests that feed a runtime readings."""

from __future__ import annotations

import time

from nicegui import ui
from nicegui.testing import User

CLEAN = {"co2": 600, "pm25": 3, "tvoc": 100, "temperature": 22, "humidity": 45}
VALUES = {"co2": 900, "pm25": 8, "tvoc": 150, "temperature": 21.5, "humidity": 45}


def reading(
    room: str = "Bureau", *, site: str = "Maison", sensor: str = "s1", ago_s: float = 0, **values: float
) -> dict:
    return {
        "sensor_id": sensor,
        "enseigne": site,
        "salle": room,
        "timestamp": time.time() - ago_s,
        "values": {**VALUES, **values},
    }


async def room_id(runtime, name: str) -> int:
    sites = await runtime.config.list_sites()
    return next(room["id"] for site in sites for room in site["rooms"] if room["name"] == name)


def scene_of(user: User) -> ui.scene:
    return user.find(ui.scene).elements.pop()


def named(scene: ui.scene, name: str):
    return next(obj for obj in scene.objects.values() if obj.name == name)


def click(user: User, name: str) -> None:
    hit = {
        "object_id": named(scene_of(user), name).id,
        "object_name": name,
        "point": {"x": 1, "y": 1, "z": 1},
    }
    args = {"hits": [hit], "click_type": "click", "button": 0}
    user.find(ui.scene).trigger(
        "click3d", {**args, **dict.fromkeys(("alt_key", "ctrl_key", "meta_key", "shift_key"), False)}
    )
