"""Modules in the digital twin (NiceGUI's simulated user, simulated devices): each room's modules are drawn
with a look that follows their state, and clicking one switches it."""

from __future__ import annotations

from nicegui.testing import User

from components.room_scene import module_look
from tests.support.pages import CLEAN, click, named, reading, scene_of
from tests.support.runtimes import settled_history
from tests.support.waiting import eventually


async def test_modules_are_drawn_in_their_room_and_a_click_switches_them(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    fan = await runtime.modules.add_module("Maison", "Bureau", "ventilation")
    window = await runtime.modules.add_module("Maison", "Bureau", "fenetre")
    await user.open("/twin")
    scene = scene_of(user)
    drawn_fan = named(scene, f"module:{fan['id']}")
    assert drawn_fan.color == module_look("fan", "off")[0]
    assert named(scene, f"module:{window['id']}").color == module_look("window", "closed")[0]
    objects = set(scene.objects)

    click(user, f"module:{fan['id']}")
    await user.should_see("Switch on ventilation?")  # real equipment: nothing moves before the user says so
    user.find(marker="cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    assert runtime.modules.module(fan["id"]).state == {"on": False}
    assert await runtime.modules.history("Maison", "Bureau") == []

    click(user, f"module:{fan['id']}")
    await user.should_see(marker="confirm-dialog")
    user.find(marker="confirm").click()
    await user.should_see("ventilation in Bureau: switch on requested")
    await eventually(lambda: runtime.modules.module(fan["id"]).state == {"on": True})
    await eventually(lambda: drawn_fan.color == module_look("fan", "on")[0])
    assert set(scene.objects) == objects  # recoloured in place

    click(user, f"module:{fan['id']}")  # and back
    await user.should_see("Switch off ventilation?")
    user.find(marker="confirm").click()
    await eventually(lambda: drawn_fan.color == module_look("fan", "off")[0])
    [off, on] = await settled_history(runtime, "Maison", "Bureau")
    assert (on["action_type"], off["action_type"]) == ("turn_on", "turn_off")
    assert on["requested_by"] == "admin" and off["status"] == "acknowledged"


async def test_a_state_reported_elsewhere_changes_the_module_in_the_twin(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    purifier = await runtime.modules.add_module("Maison", "Bureau", "purifier")
    await user.open("/twin")
    drawn = named(scene_of(user), f"module:{purifier['id']}")
    await runtime.modules.report_state(purifier["topic"], {"on": True})  # as a device would
    await eventually(lambda: drawn.color == module_look("purifier", "on")[0])
    await runtime.modules.report_availability(purifier["topic"], False)
    await eventually(lambda: drawn.color == module_look("purifier", None)[0])


async def test_a_viewer_clicking_a_module_in_the_twin_is_refused(create_user, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    fan = await runtime.modules.add_module("Maison", "Bureau", "ventilation")
    runtime.accounts.create_user_sync("vera", "viewer", "vera-password")
    viewer: User = create_user()
    signed_in = await viewer.http_client.post(
        "/api/auth/login", json={"name": "vera", "password": "vera-password"}
    )
    assert signed_in.status_code == 200
    await viewer.open("/twin")
    click(viewer, f"module:{fan['id']}")
    await viewer.should_see("This needs the role operator")
    assert runtime.modules.module(fan["id"]).state == {"on": False}
    assert await runtime.modules.history("Maison", "Bureau") == []
