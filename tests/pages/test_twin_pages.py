"""The digital twin page through NiceGUI's simulated user: the scene, its rooms, live colours and clicks."""

from __future__ import annotations

from nicegui.testing import User

from app.core.domain.score import LEVEL_COLOURS
from components.room_scene import legend_ranges, module_look
from tests.support.pages import CLEAN, click, named, reading, room_id, scene_of
from tests.support.waiting import eventually


async def test_the_twin_draws_one_named_volume_per_room_with_its_sensors(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    await runtime.ingestion.ingest(reading("Cuisine", sensor="s2", **CLEAN))
    await user.open("/twin")
    await user.should_see("Twin · Maison")
    scene = scene_of(user)
    bureau, cuisine = await room_id(runtime, "Bureau"), await room_id(runtime, "Cuisine")
    names = {obj.name for obj in scene.objects.values()}
    assert {f"room:{bureau}", f"room:{cuisine}", f"sensor:{bureau}:s1", f"sensor:{cuisine}:s2"} <= names
    assert named(scene, f"room:{bureau}").color == LEVEL_COLOURS["excellent"]
    assert named(scene, f"room:{bureau}:label").args[0] == "Bureau · 88"
    assert named(scene, f"sensor:{bureau}:s1:label").args[0] == "s1: 3.0 µg/m³"  # the driver's value: PM2.5
    await user.should_see(marker="twin-legend")


async def test_a_new_reading_recolours_the_room_in_place(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    await user.open("/twin")
    rid = await room_id(runtime, "Bureau")
    scene = scene_of(user)
    volume = named(scene, f"room:{rid}")
    objects = set(scene.objects)
    assert volume.color == LEVEL_COLOURS["excellent"]

    await runtime.ingestion.ingest(reading(**{**CLEAN, "co2": 2500}))  # far above 2000 ppm: bad
    await eventually(lambda: volume.color == LEVEL_COLOURS["bad"])
    assert named(scene, f"room:{rid}:label").args[0].startswith("Bureau · ")
    assert named(scene, f"sensor:{rid}:s1:label").args[0] == "s1: 2\u202f500 ppm"
    assert set(scene.objects) == objects  # updated in place: no object was created or deleted


async def test_colouring_by_a_metric_uses_its_own_level(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**{**CLEAN, "pm25": 60}))  # PM2.5 bad, CO₂ excellent
    await user.open("/twin")
    volume = named(scene_of(user), f"room:{await room_id(runtime, 'Bureau')}")
    assert volume.color == LEVEL_COLOURS["bad"]
    user.find(marker="twin-mode").elements.pop().set_value("co2")
    await eventually(lambda: volume.color == LEVEL_COLOURS["excellent"])
    await user.should_see("≤ 970 ppm")  # the legend gives CO₂'s ranges at the default outdoor level


async def test_clicking_a_room_opens_its_panel(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    await runtime.ingestion.ingest(reading("Cuisine", sensor="s2", **{**CLEAN, "co2": 1500}))
    await user.open("/twin")
    cuisine = await room_id(runtime, "Cuisine")
    click(user, f"room:{cuisine}")
    await user.should_see(marker="panel-room")
    assert user.find(marker="panel-room").elements.pop().text == "Cuisine"
    with user.scope(marker="twin-panel"):
        await user.should_see("1\u202f500 ppm")
        await user.should_see("No open alerts.")
        await user.should_see(marker="panel-chart")
    await runtime.ingestion.ingest(reading("Cuisine", sensor="s2", **{**CLEAN, "co2": 1600}))
    with user.scope(marker="twin-panel"):
        await user.should_see("1\u202f600 ppm", retries=20)  # the panel is live too


async def test_geometry_from_the_registry_puts_rooms_on_their_floors(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    await runtime.ingestion.ingest(reading("Cuisine", sensor="s2", **CLEAN))
    rid, other = await room_id(runtime, "Bureau"), await room_id(runtime, "Cuisine")
    square = [[0, 0], [5, 0], [5, 5], [0, 5]]
    await runtime.config.set_room_geometry(rid, {"footprint": square, "height": 3, "floor": 2})
    await user.open("/twin")
    scene = scene_of(user)
    assert named(scene, f"floor-room:{rid}").z == 7.0  # floor 2 × a storey of 3.5 m
    assert named(scene, f"room:{rid}").args[0] == square
    assert named(scene, f"room:{other}").args[0][0] == [0.0, 0.0]  # a default box: the ground floor is free
    floor = user.find(marker="twin-floor").elements.pop()
    assert floor.options == {None: "All floors", 0: "Ground floor", 2: "Floor 2"}
    floor.set_value(2)
    assert named(scene, f"floor-room:{rid}").visible_ and not named(scene, f"floor-room:{other}").visible_


async def test_no_site_yet_says_so(user: User, runtime) -> None:
    await user.open("/twin")
    await user.should_see("No sites yet")


async def test_an_unknown_site_says_so(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    await user.open("/twin/999")
    await user.should_see("There is no site with id '999'.")


def test_legend_and_module_looks():
    assert legend_ranges("score")["good"] == "60–80"
    assert legend_ranges("temperature")["excellent"] == "≤ 26 / ≥ 20 °C"
    assert module_look("fan", "on")[0] != module_look("fan", "off")[0]


async def test_a_reading_that_changes_nothing_on_screen_sends_nothing(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    await user.open("/twin")
    scene = scene_of(user)
    sent: list[str] = []
    original = scene.run_method

    def spy(name, *args, **kwargs):
        sent.append(name)
        return original(name, *args, **kwargs)

    scene.run_method = spy
    await runtime.ingestion.ingest(reading(**CLEAN))  # same values, a new time: same colours, same labels
    await runtime.ingestion.ingest(reading(**{**CLEAN, "co2": 2500}))  # this one changes the colour
    await eventually(lambda: len(sent) >= 3)
    # only the second reading's changes: the volume's colour, the room's label, the sensor's value
    assert sorted(sent) == ["material", "run_method_on_component", "run_method_on_component"]


async def test_a_rooms_model_is_drawn_inside_its_coloured_volume(user: User, runtime) -> None:
    from services.room_models import RoomModels
    from tests.support.data import glb

    await runtime.ingestion.ingest(reading(**CLEAN))
    rid = await room_id(runtime, "Bureau")
    await RoomModels.from_settings(runtime.settings).save(rid, glb())
    await user.open("/twin")
    scene = scene_of(user)
    model = named(scene, f"model:{rid}")
    assert model.args[0].startswith(f"/api/config/rooms/{rid}/model?v=")
    volume = named(scene, f"room:{rid}")
    assert model.parent is volume.parent  # in the room's group, on its floor
    assert volume.opacity < 0.5 and volume.color == LEVEL_COLOURS["excellent"]  # the level stays visible


async def test_the_panel_edits_the_rooms_geometry_and_the_scene_follows(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    rid = await room_id(runtime, "Bureau")
    await user.open("/twin")
    click(user, f"room:{rid}")
    await user.should_see(marker="geometry-text")
    text = user.find(marker="geometry-text").elements.pop()

    text.set_value('{"footprint": [[0, 0], [9, 0], [9, 9]], "height": -1}')
    user.find(marker="geometry-save").click()
    await user.should_see("height: must be a number of metres above 0")
    assert (await runtime.config.get_room_geometry(rid))["geometry"] is None  # refused whole

    text.set_value('{"footprint": [[0, 0], [9, 0], [9, 9]], "height": 4}')
    user.find(marker="geometry-save").click()
    await user.should_see("Geometry saved")
    await eventually(lambda: named(scene_of(user), f"room:{rid}").args[:2] == [[[0, 0], [9, 0], [9, 9]], 4])
    await user.should_see(marker="panel-room")  # the panel stays open on the rebuilt scene


async def test_settings_link_a_room_to_its_place_in_the_twin(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**CLEAN))
    await runtime.ingestion.ingest(reading("Cuisine", sensor="s2", **CLEAN))
    rid = await room_id(runtime, "Cuisine")
    await user.open("/settings")
    with user.scope(marker=f"room-{rid}"):
        user.find(marker="twin-room").click()
    await user.should_see(marker="panel-room")
    assert user.find(marker="panel-room").elements.pop().text == "Cuisine"
    camera = scene_of(user).camera
    assert (camera.look_at_x, camera.look_at_y) == (10.0, 2.5)  # the camera flew to Cuisine's default box
