"""The IAQ score on the dashboard's tiles and the room view, live, and the recorder behind the series."""

from __future__ import annotations

import time

from nicegui.testing import User

from components.tiles import RoomTileView
from tests.support.pages import reading, room_id
from tests.support.waiting import eventually

CLEAN = {"co2": 900, "pm25": 5, "tvoc": 150, "temperature": 21.5, "humidity": 45}


async def test_a_tile_shows_the_score_and_its_change_after_a_new_reading(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(ago_s=60, **CLEAN))
    await user.open("/")
    with user.scope(marker=f"room-{await room_id(runtime, 'Bureau')}"):
        await user.should_see(kind=RoomTileView)
        tile = user.find(kind=RoomTileView).elements.pop()
        assert (tile.props["score"], tile.props["level"]) == ("80", "excellent")  # PM2.5 at the WHO guideline
        await user.should_see("driven by PM2.5")

        await runtime.ingestion.ingest(reading(co2=1500))  # 1080 ppm above outdoor: category III
        await eventually(lambda: tile.props["score"] == "49")
        assert tile.props["level"] == "moderate"
        await user.should_see("driven by CO₂")


async def test_the_room_view_scores_with_the_rooms_override(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(**{**CLEAN, "co2": 970}))
    rid = await room_id(runtime, "Bureau")
    await user.open(f"/rooms/{rid}")
    tile = user.find(kind=RoomTileView).elements.pop()
    assert tile.props["score"] == "80"

    await runtime.scoring.set_room_thresholds(rid, {"outdoor_co2_ppm": 300})  # 670 ppm above outdoor now
    await eventually(lambda: tile.props["score"] == "70")
    assert tile.props["level"] == "good"


async def test_a_tile_with_only_old_readings_shows_no_score(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(ago_s=2 * 3600, **CLEAN))
    await user.open("/")
    await user.should_see("no reading in the last 1 h")
    assert user.find(kind=RoomTileView).elements.pop().props["score"] == "—"


async def test_the_recorder_stores_one_score_per_room_and_minute(user: User, runtime) -> None:
    start = int(time.time()) - 300
    batch = [{**reading(co2=800 + 10 * i), "timestamp": start + 15 * i} for i in range(12)]  # 0 to 165 s
    await runtime.ingestion.ingest(batch)
    await runtime.ingestion.ingest(reading("Cuisine", sensor="s2", co2=2500))
    await eventually(lambda: runtime.scoring.written == 4)  # Bureau at 0, 60 and 120 s; Cuisine once
    history = await runtime.scoring.history("Maison", "Bureau", hours=1)
    assert [row["timestamp"][-6:] for row in history["data"]] == [
        time.strftime("%M:%S", time.gmtime(start + s)) + "Z" for s in (0, 60, 120)
    ]
    assert [row["driver"] for row in history["data"]] == ["pm25"] * 3
    assert (await runtime.scoring.history("Maison", "Cuisine", hours=1))["data"][0]["level"] == "bad"
