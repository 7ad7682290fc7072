"""The pages as a user sees them, through NiceGUI's simulated `user` (no browser).

The `runtime` fixture is the app's own runtime: readings go in through its ingestion service, exactly as
the REST API would put them, and the open page must show them without being reloaded.
"""

from __future__ import annotations

import json

from nicegui import ui
from nicegui.testing import User

from components.charts import SeriesChart
from tests.support.pages import reading, room_id
from tests.support.waiting import eventually


# -- dashboard
async def test_fresh_install_shows_how_to_start(user: User, runtime) -> None:
    await user.open("/")
    await user.should_see("No sites yet")
    await user.should_see("IAQ_DEMO=1", retries=1)
    curl = user.find(marker="curl-example").elements.pop()
    assert "curl -X POST http://test/api/ingest" in curl.content
    await user.should_see("Settings")


async def test_a_new_reading_changes_the_open_tile(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading(co2=900, ago_s=60))
    await user.open("/")
    with user.scope(marker=f"room-{await room_id(runtime, 'Bureau')}"):
        await user.should_see("900 ppm")
        await user.should_see("Bureau")

        await runtime.ingestion.ingest(reading(co2=950))
        await user.should_see("950 ppm", retries=20)
        await user.should_not_see("900 ppm")


async def test_a_room_appears_with_its_first_reading(user: User, runtime) -> None:
    await user.open("/")
    await user.should_see("No sites yet")
    await runtime.ingestion.ingest(reading("Bureau"))
    await user.should_see("Bureau", retries=20)
    await user.should_not_see("No sites yet")

    await runtime.ingestion.ingest(reading("Cuisine", sensor="s2", co2=1500))
    await user.should_see("Cuisine", retries=20)
    with user.scope(marker=f"room-{await room_id(runtime, 'Cuisine')}"):
        await user.should_see("1\u202f500 ppm")


async def test_room_view_charts_live_readings_and_switches_range(user: User, runtime) -> None:
    for minutes in (50, 40, 30):  # within the last hour
        await runtime.ingestion.ingest(reading(co2=600 + minutes, ago_s=minutes * 60))
    await runtime.ingestion.ingest(reading(co2=1000, ago_s=5 * 3600))  # only in the 24 h range
    rid = await room_id(runtime, "Bureau")
    await user.open(f"/rooms/{rid}")
    await user.should_see("Maison")
    await user.should_see("630 ppm")  # the latest value tile
    chart = user.find(SeriesChart).elements.pop()
    await eventually(lambda: chart.point_count == 3)  # the page streams in while the series loads
    assert chart.step_ms is None and chart.figure["data"][0]["y"] == [650, 640, 630]

    await runtime.ingestion.ingest(reading(co2=700))
    await eventually(lambda: chart.point_count == 4)
    assert chart.figure["data"][0]["y"][-1] == 700

    user.find(marker="range").elements.pop().set_value("24h")
    await eventually(lambda: chart.step_ms == 300_000)
    mean = chart.figure["data"][2]
    assert mean["name"] == "mean" and 1000 in mean["y"] and len(mean["y"]) == 5

    user.find(marker="metric").elements.pop().set_value("temperature")
    await eventually(lambda: chart.metric == "temperature")
    assert chart.figure["layout"]["yaxis"]["title"]["text"] == "Temperature (°C)"


async def test_room_view_without_data_and_unknown_room(user: User, runtime) -> None:
    site = await runtime.config.create_site({"name": "Maison"})
    room = await runtime.config.create_room(site["id"], {"name": "Garage"})
    await user.open(f"/rooms/{room['id']}")
    await user.should_see("This room has no readings yet")

    await user.open("/rooms/999")
    await user.should_see("There is no room with id '999'")


# -- settings
async def test_create_rename_and_delete_a_site(user: User, runtime) -> None:
    await user.open("/settings")
    user.find(marker="new-site-name").type("Maison")
    user.find(marker="create-site").click()
    await user.should_see("Site 'Maison' created")
    (site,) = await runtime.config.list_sites()

    with user.scope(marker=f"site-{site['id']}"):
        user.find(marker="new-room-name").type("Bureau")
        user.find(marker="add-room").click()
    await user.should_see("Room 'Bureau' added to 'Maison'")
    await runtime.ingestion.ingest([reading(ago_s=120), reading(ago_s=60)])

    await user.should_see("2 readings", retries=20)  # the page refreshed when the readings were stored?
    user.find(marker="rename-site").click()
    await user.should_see(marker="text-dialog")
    user.find(marker="dialog-input").clear().type("Maison de campagne")
    user.find(marker="save").click()
    await user.should_see("Site renamed to 'Maison de campagne'")
    await user.should_see("Maison de campagne", retries=20)

    user.find(marker="delete-site").click()
    await user.should_see(marker="confirm-dialog")
    message = user.find(marker="confirm-message").elements.pop()
    assert "1 room (Bureau) and 2 readings" in message.text
    user.find(marker="confirm").click()
    await user.should_see("Deleted site 'Maison de campagne' with 1 room and 2 readings")
    await user.should_see("No sites yet", retries=20)
    assert await runtime.config.list_sites() == []


async def test_an_unknown_time_zone_is_refused_and_nothing_is_written(user: User, runtime) -> None:
    await user.open("/settings")
    user.find(marker="new-site-name").type("Maison")
    zone = user.find(marker="timezone").elements.pop()
    user.find(marker="timezone").trigger("update:modelValue", "Mars/Olympus")  # typed, then Enter
    assert zone.value == "Mars/Olympus"
    user.find(marker="create-site").click()
    await user.should_see("unknown time zone 'Mars/Olympus'")
    assert zone.error and "unknown time zone" in zone.error
    assert await runtime.config.list_sites() == []


async def test_a_second_site_with_the_same_name_is_refused(user: User, runtime) -> None:
    await runtime.config.create_site({"name": "Maison"})
    await user.open("/settings")
    user.find(marker="new-site-name").type("Maison")
    user.find(marker="create-site").click()
    await user.should_see("The site was not created: a site named 'Maison' exists already")
    assert len(await runtime.config.list_sites()) == 1


async def test_opening_hours_errors_name_the_day(user: User, runtime) -> None:
    await runtime.config.create_site({"name": "Maison"})
    await user.open("/settings")
    user.find(marker="edit-hours").click()
    await user.should_see(marker="hours-dialog")
    user.find(marker="always-open").click()
    user.find(marker="hours-mon").type("08:00-12:00, 13:00-18:00")
    user.find(marker="hours-tue").type("18:00-08:00")
    user.find(marker="save").click()
    await user.should_see("opening_hours.tue[0]: ends at 08:00")
    assert (await runtime.config.list_sites())[0]["opening_hours"] is None

    user.find(marker="hours-tue").clear().type("9:00-17:00")
    user.find(marker="save").click()
    await user.should_see("Opening hours of 'Maison' saved")
    hours = (await runtime.config.list_sites())[0]["opening_hours"]
    assert hours == {"mon": [["08:00", "12:00"], ["13:00", "18:00"]], "tue": [["09:00", "17:00"]]}


async def test_import_of_the_original_config_creates_site_and_room(user: User, runtime) -> None:
    original = {
        "lieux": {
            "enseignes": [
                {"id": "e1", "nom": "Maison", "pieces": [{"id": "p1", "nom": "Bureau", "type": "bureau"}]}
            ]
        }
    }
    await user.open("/settings")
    upload = user.find(ui.upload).elements.pop()
    with user:
        await upload.handle_uploads(
            [ui.upload.SmallFileUpload("config.json", "application/json", json.dumps(original).encode())]
        )
    await user.should_see("Imported config.json: 1 site created, 0 updated; 1 room created", retries=20)
    await user.should_see("Bureau", retries=20)
    (site,) = await runtime.config.list_sites()
    assert site["name"] == "Maison" and site["rooms"][0]["kind"] == "bureau"

    await user.open("/")
    await user.should_see("Maison")
    await user.should_see("Bureau")


async def test_an_invalid_import_says_why_and_writes_nothing(user: User, runtime) -> None:
    await user.open("/settings")
    upload = user.find(ui.upload).elements.pop()
    bad = {"lieux": {"enseignes": [{"nom": "Maison", "timezone": "Europe/Nowhere", "pieces": []}]}}
    with user:
        await upload.handle_uploads(
            [ui.upload.SmallFileUpload("bad.json", "application/json", json.dumps(bad).encode())]
        )
    await user.should_see("lieux.enseignes[0].timezone: unknown time zone", retries=20)
    assert await runtime.config.list_sites() == []


async def test_export_downloads_the_configuration(user: User, runtime) -> None:
    await runtime.ingestion.ingest(reading())
    await user.open("/settings")
    user.find(marker="export").click()
    response = await user.download.next()
    doc = response.json()
    assert doc["format"] == "iaqverse-config"
    assert doc["sites"][0]["rooms"][0]["sensors"] == [{"sensor_id": "s1", "label": None}]


async def test_an_unknown_address_says_so_in_the_frame_and_an_unknown_api_path_answers_json(
    user: User,
) -> None:
    page = await user.http_client.get("/rooms-that-do-not-exist")
    assert page.status_code == 404 and "There is no page at /rooms-that-do-not-exist" in page.text
    assert "HTTPException" not in page.text
    api = await user.http_client.get("/api/no-such-thing")
    assert api.status_code == 404
    assert api.json() == {"error": "no such endpoint: GET /api/no-such-thing"}


async def test_the_portfolio_lists_every_room_worst_first_with_its_last_24_hours(user: User, runtime) -> None:
    for room, sensor, co2 in (("Bureau", "s1", 700), ("Salon", "s2", 2600), ("Cuisine", "s3", 1300)):
        await runtime.ingestion.ingest(
            [reading(room, sensor=sensor, co2=co2, ago_s=ago) for ago in (5 * 3600, 3600, 60)]
        )
    await runtime.ingestion.ingest(reading("Vide", site="Annexe", sensor="s4", ago_s=3 * 86400))  # silent
    await user.open("/")
    table = user.find(marker="portfolio").elements.pop()
    await eventually(lambda: len(table.rows) == 4)
    assert [r["where"] for r in table.rows] == [
        "Maison / Salon", "Maison / Cuisine", "Maison / Bureau", "Annexe / Vide",
    ]  # fmt: skip
    salon = table.rows[0]
    assert salon["driver"] == "CO₂" and salon["score"] < table.rows[1]["score"] < table.rows[2]["score"]
    # the last hour and this one make a line; five hours ago is a point of its own, the silence a gap
    assert salon["spark"].startswith("<svg") and salon["spark"].count("<polyline") == 1
    assert salon["spark"].count("<circle") == 1
    assert table.rows[3]["score"] is None and table.rows[3]["driver"] == "no recent value"


async def test_room_view_shows_chosen_days_and_downloads_what_the_chart_shows(user: User, runtime) -> None:
    from datetime import UTC, datetime, timedelta

    days_ago = 9
    await runtime.ingestion.ingest(
        [reading(co2=800 + i, ago_s=days_ago * 86400 + i * 600) for i in range(6)] + [reading(co2=650)]
    )
    rid = await room_id(runtime, "Bureau")
    await user.open(f"/rooms/{rid}")
    chart = user.find(SeriesChart).elements.pop()
    await eventually(lambda: chart.point_count == 1)
    user.find(marker="range").elements.pop().set_value("dates")
    await user.should_see(marker="range-from")
    day = (datetime.now(UTC) - timedelta(days=days_ago)).date()
    first, last = user.find(marker="range-from").elements.pop(), user.find(marker="range-to").elements.pop()
    last.value = (day - timedelta(days=1)).isoformat()
    first.value = day.isoformat()
    user.find(marker="range-to").trigger("change")
    await user.should_see("must not be before the first day")
    last.value = (day + timedelta(days=1)).isoformat()
    user.find(marker="range-to").trigger("change")
    await eventually(lambda: chart.figure["data"][2]["y"] and min(chart.figure["data"][2]["y"]) >= 800)
    assert chart.step_ms is not None and max(chart.figure["data"][2]["y"]) <= 805  # that day, not today
    await runtime.ingestion.ingest(reading(co2=999))  # live readings do not move a chosen span
    assert all(v < 900 for v in chart.figure["data"][2]["y"])

    user.find(marker="download-csv").click()
    csv_text = chart.csv()
    assert csv_text.splitlines()[0].startswith("step start (")
    assert "readings" in csv_text.splitlines()[0] and len(csv_text.splitlines()) >= 2


async def test_dark_mode_is_switched_in_the_account_menu_and_kept_for_the_next_pages(user: User) -> None:
    await user.open("/")
    assert user.find(ui.dark_mode).elements.pop().value is False
    user.find(marker="dark-mode").click()
    assert user.find(ui.dark_mode).elements.pop().value is True
    await user.open("/alerts")
    assert user.find(ui.dark_mode).elements.pop().value is True
