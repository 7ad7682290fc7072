"""POST /api/ingest and POST /iaq against a real server process: acknowledged means stored,
duplicates are stored once, and bad input gets a 4xx naming the field with nothing half-stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.servers import platform


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with platform(
        tmp_path_factory.mktemp("ingest") / "data", IAQ_MAX_BATCH="50", IAQ_MAX_BODY_BYTES="20000"
    ) as srv:
        yield srv


def now_iso(delta_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).isoformat().replace("+00:00", "Z")


def reading(site: str, room: str = "Office", sensor: str | None = None, ts: str | None = None, **values):
    return {
        "sensor_id": sensor or f"{site}-s1",
        "enseigne": site,
        "salle": room,
        "timestamp": ts or now_iso(),
        "values": values or {"CO2": 645, "PM25": 12, "TVOC": 200, "Temperature": 22.3, "Humidity": 45},
    }


def raw_rows(api: httpx.Client, site: str, **params) -> list[dict]:
    answer = api.get("/api/v2/iaq/data", params={"enseigne": site, "raw": "true", "hours": 48, **params})
    if answer.status_code == 404:
        return []
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def sites(api: httpx.Client) -> set[str]:
    return {s["name"] for s in api.get("/api/config/sites").json()}


def test_reading_in_new_format_is_stored_and_readable(api):
    answer = api.post("/api/ingest", json=reading("Maison", "Bureau", sensor="bureau1"))
    assert answer.status_code == 200  # the original's answer: device firmware tests for exactly 200
    body = answer.json()
    assert (body["status"], body["message"], body["sensor_id"]) == (
        "success",
        "Mesure enregistrée",
        "bureau1",
    )
    assert body["timestamp"].startswith(now_iso()[:15])  # when it was stored, UTC
    assert (body["outcome"], body["received"], body["stored"], body["duplicates"]) == ("stored", 1, 1, 0)
    rows = raw_rows(api, "Maison", salle="Bureau")
    assert len(rows) == 1
    assert rows[0]["sensor_id"] == "bureau1"
    assert rows[0]["co2"] == 645 and rows[0]["humidity"] == 45 and rows[0]["tvoc"] == 200


def test_legacy_flat_format_with_capteur_id_is_stored(api):
    body = {
        "timestamp": now_iso(),
        "co2": 700,
        "pm25": 8,
        "tvoc": 150,
        "temperature": 21.5,
        "humidity": 40,
        "enseigne": "Legacy",
        "salle": "Salon",
        "capteur_id": "salon1",
    }
    answer = api.post("/iaq", json=body)
    assert answer.status_code == 200, answer.text
    rows = raw_rows(api, "Legacy")
    assert [(r["sensor_id"], r["salle"], r["co2"]) for r in rows] == [("salon1", "Salon", 700)]


def test_same_sensor_and_timestamp_twice_is_stored_once_and_reported(api):
    body = reading("Dup", ts="2026-01-05T10:00:00Z")
    first = api.post("/api/ingest", json=body)
    second = api.post("/api/ingest", json=body)
    assert first.status_code == 200
    assert second.status_code == 200
    # a duplicate is a success for the device (it is stored, once); IAQverse says which it was
    assert second.json()["status"] == "success" and second.json()["message"] == "Mesure déjà enregistrée"
    assert second.json()["outcome"] == "duplicate" and second.json()["stored"] == 0
    rows = raw_rows(api, "Dup", start="2026-01-05T00:00:00Z", end="2026-01-06T00:00:00Z")
    assert len(rows) == 1


def test_batch_stores_all_and_names_duplicates_inside_and_across_requests(api):
    base = datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    batch = [
        reading("Batch", sensor="b-1", ts=(base + timedelta(minutes=i)).isoformat(), co2=500 + i)
        for i in range(10)
    ]
    answer = api.post("/api/ingest", json=batch)
    assert answer.status_code == 200
    assert answer.json()["stored"] == 10
    again = [
        *batch[8:],
        reading("Batch", sensor="b-1", ts=(base + timedelta(minutes=20)).isoformat(), co2=900),
        batch[9],
    ]
    answer = api.post("/api/ingest", json=again)
    assert answer.status_code == 200
    assert answer.json()["stored"] == 1
    assert answer.json()["duplicate_indices"] == [0, 1, 3]
    rows = raw_rows(api, "Batch", start="2026-01-06T00:00:00Z", end="2026-01-07T00:00:00Z")
    assert [r["co2"] for r in rows] == [500 + i for i in range(10)] + [900]


def test_extra_metrics_are_stored_as_they_come(api):
    answer = api.post(
        "/api/ingest", json=reading("Extra", CO2=600, PM10=20, NO2=12, Pressure=1013.2, radon=40)
    )
    assert answer.status_code == 200, answer.text
    (row,) = raw_rows(api, "Extra")
    assert row["pm10"] == 20 and row["no2"] == 12 and row["pressure"] == 1013.2 and row["radon"] == 40


def test_tvoc_in_ppb_is_converted_with_the_reference_factor(api):
    body = reading("Units", TVOC=100) | {"units": {"tvoc": "ppb"}}
    assert api.post("/api/ingest", json=body).status_code == 200
    (row,) = raw_rows(api, "Units")
    assert row["tvoc"] == pytest.approx(450)


def test_timestamp_without_zone_is_read_in_the_sites_time_zone(api):
    created = api.post("/api/config/sites", json={"name": "Paris HQ", "timezone": "Europe/Paris"})
    assert created.status_code == 201, created.text
    body = reading("Paris HQ", ts="2026-07-01T14:00:00")  # summer: UTC+2
    assert api.post("/api/ingest", json=body).status_code == 200
    rows = raw_rows(api, "Paris HQ", start="2026-07-01T00:00:00Z", end="2026-07-02T00:00:00Z")
    assert [r["timestamp"] for r in rows] == ["2026-07-01T12:00:00Z"]


def test_reading_without_timestamp_gets_the_server_time(api):
    body = reading("NoTime")
    del body["timestamp"]
    before = datetime.now(UTC)
    assert api.post("/api/ingest", json=body).status_code == 200
    (row,) = raw_rows(api, "NoTime")
    stored = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
    assert abs((stored - before).total_seconds()) < 5


BAD_READINGS = [
    ("missing values", lambda r: r.pop("values"), "values", "required"),
    ("non-numeric value", lambda r: r["values"].update(CO2="645"), "values.CO2", "must be a number"),
    ("boolean value", lambda r: r["values"].update(CO2=True), "values.CO2", "must be a number"),
    ("null value", lambda r: r["values"].update(PM25=None), "values.PM25", "must be a number"),
    ("co2 below zero", lambda r: r["values"].update(CO2=-1), "values.CO2", "outside the physical range"),
    ("co2 above 40000", lambda r: r["values"].update(CO2=40_001), "values.CO2", "outside the physical range"),
    ("humidity above 100", lambda r: r["values"].update(Humidity=101), "values.Humidity", "outside"),
    ("humidity below 0", lambda r: r["values"].update(Humidity=-0.5), "values.Humidity", "outside"),
    ("far future", lambda r: r.update(timestamp=now_iso(3600)), "timestamp", "in the future"),
    ("unparseable time", lambda r: r.update(timestamp="yesterday at noon"), "timestamp", "ISO 8601"),
    ("milliseconds", lambda r: r.update(timestamp=1_764_000_000_000), "timestamp", "milliseconds"),
    ("missing sensor", lambda r: r.pop("sensor_id"), "sensor_id", "required"),
    ("unknown field", lambda r: r.update(valeurs={}), "valeurs", "not a known field"),
    ("empty values", lambda r: r.update(values={}), "values", "no metric"),
    ("unknown unit", lambda r: r.update(units={"tvoc": "furlongs"}), "values.CO2", None),
]


@pytest.mark.parametrize(
    ("case", "spoil", "field", "problem"), BAD_READINGS, ids=[c[0] for c in BAD_READINGS]
)
def test_bad_reading_is_refused_naming_the_field_and_nothing_is_stored(api, case, spoil, field, problem):
    site = f"Bad {case}"
    body = reading(site, CO2=700, TVOC=10, Humidity=40)
    spoil(body)
    answer = api.post("/api/ingest", json=body)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    if case == "unknown unit":
        assert detail[0]["field"] == "values.TVOC" and "not supported" in detail[0]["problem"]
    else:
        assert detail[0]["field"] == field
        assert problem in detail[0]["problem"]
    assert site not in sites(api), "a refused reading must not register its site"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_naming_the_field(api, literal):
    text = '{"sensor_id": "x", "enseigne": "Inf", "salle": "R", "values": {"co2": LITERAL}}'.replace(
        "LITERAL", literal
    )
    answer = api.post("/api/ingest", content=text, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "values.co2"
    assert "finite" in answer.json()["detail"][0]["problem"]


def test_batch_with_one_bad_reading_stores_nothing(api):
    good = [reading("Half", sensor=f"h{i}", co2=500) for i in range(5)]
    bad = reading("Half", sensor="h-bad", co2=99_999)
    answer = api.post("/api/ingest", json=[*good, bad])
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "[5].values.co2"
    assert "Half" not in sites(api)
    assert raw_rows(api, "Half") == []


def test_wrong_content_type_is_415(api):
    answer = api.post(
        "/api/ingest", content=json.dumps(reading("CT")), headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 415
    assert "application/json" in answer.json()["error"]


def test_malformed_json_is_400_with_position(api):
    answer = api.post(
        "/api/ingest", content='{"sensor_id": "x",', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert "malformed JSON" in answer.json()["error"] and "column" in answer.json()["error"]


def test_oversized_body_is_413(api):
    body = [reading("Big", sensor=f"s{i}") for i in range(40)] + [{"padding": "x" * 20_000}]
    answer = api.post("/api/ingest", json=body)
    assert answer.status_code == 413
    assert "Big" not in sites(api)


def test_too_many_readings_in_one_batch_is_413_with_the_limit(api):
    answer = api.post("/api/ingest", json=[{"sensor_id": "s", "values": {"co2": 1}}] * 51)
    assert answer.status_code == 413
    assert "limit of 50" in answer.json()["error"]


def test_empty_list_is_refused(api):
    answer = api.post("/api/ingest", json=[])
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "body"


def test_assigned_sensor_may_omit_site_and_room(api):
    assert api.post("/api/ingest", json=reading("Known", "Lab", sensor="known-1")).status_code == 200
    answer = api.post("/api/ingest", json={"sensor_id": "known-1", "values": {"co2": 810}})
    assert answer.status_code == 200
    assert [r["co2"] for r in raw_rows(api, "Known")][-1] == 810


def test_new_sensor_without_site_is_refused(api):
    answer = api.post("/api/ingest", json={"sensor_id": "stranger", "values": {"co2": 810}})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "enseigne"
