"""GET /api/iaq/data and /api/config/... against a real server."""

from __future__ import annotations

import pytest

from tests.support.servers import platform


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with platform(tmp_path_factory.mktemp("query") / "data") as srv:
        yield srv


def seed(api, site: str, room: str, sensor: str, minutes: range, co2=lambda m: 400 + m, day="2026-02-10"):
    batch = [
        {
            "sensor_id": sensor,
            "enseigne": site,
            "salle": room,
            "timestamp": f"{day}T09:{m:02d}:00Z",
            "values": {"co2": co2(m), "temperature": 21},
        }
        for m in minutes
    ]
    assert api.post("/api/ingest", json=batch).status_code == 200


RANGE = {"start": "2026-02-10T09:00:00Z", "end": "2026-02-10T10:00:00Z"}


def test_aggregated_query_returns_mean_min_max_per_step(api):
    seed(api, "Q1", "R", "q1", range(0, 10))
    answer = api.get("/api/v2/iaq/data", params={"enseigne": "Q1", "salle": "R", "step": "5min", **RANGE})
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert [d["timestamp"] for d in data] == ["2026-02-10T09:00:00Z", "2026-02-10T09:05:00Z"]
    assert data[0]["co2"] == 402 and data[0]["stats"]["co2"] == {"min": 400, "max": 404, "count": 5}
    assert answer.json()["step"] == "5min"


def test_raw_query_filters_by_sensor_and_metric(api):
    seed(api, "Q2", "R", "q2-a", range(0, 3))
    seed(api, "Q2", "R", "q2-b", range(0, 3), co2=lambda m: 900)
    answer = api.get(
        "/api/v2/iaq/data",
        params={"enseigne": "Q2", "sensor_id": "q2-b", "raw": "true", "metrics": "CO2", **RANGE},
    )
    rows = answer.json()["data"]
    assert [(r["sensor_id"], r["co2"]) for r in rows] == [("q2-b", 900)] * 3
    assert all("temperature" not in r for r in rows)


def test_site_query_without_room_covers_every_room(api):
    seed(api, "Q3", "A", "q3-a", range(0, 2))
    seed(api, "Q3", "B", "q3-b", range(0, 2))
    rows = api.get("/api/v2/iaq/data", params={"enseigne": "Q3", "raw": "true", **RANGE}).json()["data"]
    assert {r["salle"] for r in rows} == {"A", "B"}


def test_raw_limit_says_the_answer_is_truncated(api):
    seed(api, "Q4", "R", "q4", range(0, 20))
    body = api.get("/api/v2/iaq/data", params={"enseigne": "Q4", "raw": "true", "limit": 5, **RANGE}).json()
    assert body["count"] == 5 and body["truncated"] is True


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"enseigne": "Nope"}, 404, None),
        ({"step": "fortnightly"}, 422, "step"),
        ({"step": "1s"}, 422, "step"),
        ({"start": "2026-02-10T10:00:00Z", "end": "2026-02-10T09:00:00Z"}, 422, "start"),
        ({"start": "not a date"}, 422, "start"),
        ({"hours": "-3"}, 422, "hours"),
        ({"metrics": "co2,!!"}, 422, "metrics"),
        ({"step": "1min", "hours": 8000}, 422, "step"),
    ],
)
def test_bad_query_parameters_are_named(api, params, status, field):
    answer = api.get("/api/v2/iaq/data", params=params)
    assert answer.status_code == status, answer.text
    if field:
        assert answer.json()["detail"][0]["field"] == field


def test_site_and_room_lifecycle_with_confirmation_for_data(api):
    site = api.post(
        "/api/config/sites",
        json={"name": "Lyon", "timezone": "Europe/Paris", "opening_hours": {"mon": [["08:00", "18:00"]]}},
    )
    assert site.status_code == 201
    site_id = site.json()["id"]
    assert api.post("/api/config/sites", json={"name": "Lyon"}).status_code == 409
    room = api.post(f"/api/config/sites/{site_id}/rooms", json={"name": "Shop"}).json()
    assert room["effective_timezone"] == "Europe/Paris"
    renamed = api.patch(f"/api/config/sites/{site_id}", json={"name": "Lyon Part-Dieu"})
    assert renamed.json()["name"] == "Lyon Part-Dieu"
    seed(api, "Lyon Part-Dieu", "Shop", "lyon-1", range(0, 3))
    refused = api.delete(f"/api/config/sites/{site_id}")
    assert refused.status_code == 409 and "3 reading(s)" in refused.json()["error"]
    assert api.delete(f"/api/config/rooms/{room['id']}").status_code == 409
    deleted = api.delete(f"/api/config/sites/{site_id}", params={"cascade": "true"})
    assert deleted.json() == {"deleted": "site", "name": "Lyon Part-Dieu", "rooms": 1, "readings": 3}
    assert api.get(f"/api/config/sites/{site_id}").status_code == 404
    assert api.get("/api/v2/iaq/data", params={"enseigne": "Lyon Part-Dieu"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": "X", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "X", "opening_hours": {"funday": []}}, "opening_hours.funday"),
        ({"name": "X", "opening_hours": {"mon": [["18:00", "08:00"]]}}, "opening_hours.mon[0]"),
        (
            {"name": "X", "opening_hours": {"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}},
            "opening_hours.mon",
        ),
    ],
)
def test_invalid_site_fields_are_named_and_nothing_is_created(api, body, field):
    answer = api.post("/api/config/sites", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == field
    assert "X" not in {s["name"] for s in api.get("/api/config/sites").json()}


def test_sensor_can_be_moved_to_another_room(api):
    seed(api, "Move", "Old", "mover", range(0, 1))
    site = next(s for s in api.get("/api/config/sites").json() if s["name"] == "Move")
    new_room = api.post(f"/api/config/sites/{site['id']}/rooms", json={"name": "New"}).json()
    moved = api.put("/api/config/sensors/mover", json={"room_id": new_room["id"], "label": "desk"})
    assert moved.json()["salle"] == "New"
    api.post(
        "/api/ingest",
        json={
            "sensor_id": "mover",
            "enseigne": "Move",
            "salle": "Old",
            "timestamp": "2026-02-10T09:30:00Z",
            "values": {"co2": 555},
        },
    )
    rows = api.get(
        "/api/v2/iaq/data", params={"enseigne": "Move", "salle": "New", "raw": "true", **RANGE}
    ).json()
    assert [r["co2"] for r in rows["data"]] == [555]  # the registry's assignment wins over the payload
    assert api.put("/api/config/sensors/mover", json={"room_id": 99999}).status_code == 404


ORIGINAL_CONFIG = {
    "vous": {"nom": "Dupont"},
    "lieux": {
        "enseignes": [
            {
                "id": "ens_1",
                "nom": "Maison Import",
                "adresse": "123 rue d'Avron",
                "pieces": [
                    {
                        "id": "piece_1",
                        "nom": "Chambre",
                        "type": "chambre",
                        "glbModel": "/assets/rooms/x.glb",
                        "modules": [{"id": "Window01", "type": "window"}],
                    },
                    {"id": "piece_2", "nom": "Salon", "type": "salon"},
                ],
            },
            {
                "id": "boutique1",
                "nom": "Boutique Import",
                "pieces": [{"id": "p3", "nom": "Bureau", "type": "bureau"}],
            },
        ],
        "active": "ens_1",
    },
}


def test_import_of_the_original_config_json_creates_sites_and_rooms(api):
    report = api.post("/api/config/import", json=ORIGINAL_CONFIG)
    assert report.status_code == 200, report.text
    assert report.json()["sites_created"] == 2 and report.json()["rooms_created"] == 3
    assert report.json()["modules_ignored"] == 1
    sites = {s["name"]: s for s in api.get("/api/config/sites").json()}
    assert [r["name"] for r in sites["Maison Import"]["rooms"]] == ["Chambre", "Salon"]
    assert sites["Maison Import"]["address"] == "123 rue d'Avron"
    again = api.post("/api/config/import", json=ORIGINAL_CONFIG).json()
    assert again["sites_created"] == 0 and again["sites_updated"] == 2


def test_export_then_import_round_trips(api):
    api.post("/api/config/sites", json={"name": "Round", "timezone": "America/New_York"})
    exported = api.get("/api/config/export")
    assert "attachment" in exported.headers["content-disposition"]
    doc = exported.json()
    assert doc["format"] == "iaqverse-config"
    assert any(s["name"] == "Round" and s["timezone"] == "America/New_York" for s in doc["sites"])
    assert api.post("/api/config/import", json=doc).json()["sites_created"] == 0


def test_invalid_import_writes_nothing(api):
    bad = {
        "lieux": {
            "enseignes": [
                {"nom": "Fine Site", "pieces": [{"nom": "ok"}]},
                {"nom": "Broken", "timezone": "Nowhere/Land", "pieces": []},
            ]
        }
    }
    answer = api.post("/api/config/import", json=bad)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "lieux.enseignes[1].timezone"
    assert "Fine Site" not in {s["name"] for s in api.get("/api/config/sites").json()}


def test_csv_export_streams_every_raw_reading_of_any_range(api):
    batch = [
        {
            "sensor_id": f"csv-{i % 3}",
            "enseigne": "CSV",
            "salle": "R",
            "timestamp": 1_767_000_000 + i,
            "values": {"co2": 400 + i % 500, "no2": 7},
        }
        for i in range(6000)
    ]
    for part in (batch[:3000], batch[3000:]):
        assert api.post("/api/ingest", json=part).status_code == 200
    params = {"enseigne": "CSV", "raw": "true", "start": "1767000000", "end": "1767010000", "format": "csv"}
    with api.stream("GET", "/api/v2/iaq/data", params=params) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        lines = "".join(answer.iter_text()).splitlines()
    assert lines[0] == "timestamp,enseigne,salle,sensor_id,co2,pm25,tvoc,temperature,humidity,extra"
    assert len(lines) == 1 + 6000  # two pages of 5000 rows: none lost, none repeated
    assert len(set(lines[1:])) == 6000
    first = lines[1].split(",", 4)
    assert first[:4] == ["2025-12-29T09:20:00Z", "CSV", "R", "csv-0"]
    assert lines[1].endswith('"{""no2"":7.0}"')


def test_csv_export_of_aggregates_and_of_an_unknown_site(api):
    seed(api, "CSV2", "R", "csv2", range(0, 10))
    params = {"enseigne": "CSV2", "step": "5min", "format": "csv", **RANGE}
    lines = api.get("/api/v2/iaq/data", params=params).text.splitlines()
    assert lines[0].startswith("timestamp,enseigne,salle,co2_mean,co2_min,co2_max,co2_count")
    assert lines[1].startswith("2026-02-10T09:00:00Z,CSV2,R,402.0,400.0,404.0,5")
    missing = api.get("/api/v2/iaq/data", params={"enseigne": "Nowhere", "format": "csv"})
    assert missing.status_code == 404
